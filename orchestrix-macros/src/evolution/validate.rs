//! What the compiler can check of an event's history before any row is
//! read: aliases, `since` and the upcasters' versions. (The functions'
//! types are checked by the generated code, spanned on the user's paths.)

use std::collections::BTreeMap;

use super::History;
use crate::errors::Errors;

/// Checks `history` of an event named `name` at `version`; every mistake
/// is recorded. Returns whether the upcasters form a chain the expansion
/// can generate.
pub(crate) fn check(
    history: &History,
    name: &str,
    version: u32,
    version_span: proc_macro2::Span,
    errors: &mut Errors,
) -> bool {
    let mut ok = true;
    for (index, alias) in history.aliases.iter().enumerate() {
        if super::parse::same_name(alias, name) {
            errors.error_spanned(
                alias,
                format!(
                    "`{name}` is this event's current name; an alias is a former name rows \
                     may still be stored under: remove it"
                ),
            );
        } else if history.aliases[..index]
            .iter()
            .any(|earlier| earlier.value() == alias.value())
        {
            errors.error_spanned(alias, "this alias is given twice; give it once");
        }
    }

    let since = history.since_version();
    if let Some(since_literal) = &history.since
        && since > version
    {
        errors.error_spanned(
            since_literal,
            format!(
                "`since = {since}` is after the event's version {version}: `since` is the \
                 first version ever stored, at most `version`"
            ),
        );
        ok = false;
    }

    let mut by_version: BTreeMap<u32, &super::Upcast> = BTreeMap::new();
    for upcast in &history.upcasts {
        let from = upcast.from_version;
        if from >= version {
            errors.error_spanned(
                &upcast.from,
                format!(
                    "an upcaster reads an old version, below the event's version {version}; \
                     `from = {from}` is not old (raise `version`, or remove this upcaster)"
                ),
            );
            ok = false;
        } else if from < since {
            errors.error_spanned(
                &upcast.from,
                format!(
                    "version {from} was never stored (`since = {since}`); remove this \
                     upcaster or lower `since`"
                ),
            );
            ok = false;
        } else if let std::collections::btree_map::Entry::Vacant(entry) = by_version.entry(from) {
            entry.insert(upcast);
        } else {
            errors.error_spanned(
                &upcast.from,
                format!(
                    "two upcasters from version {from}; a stored version is read one way: \
                     keep one"
                ),
            );
            ok = false;
        }
    }

    // A gap is visible here only when some upcaster is declared: an event
    // with none may be at a version that was never stored before, which
    // only `since` (or the start-up check) can tell.
    if !history.upcasts.is_empty() && ok {
        for missing in (since..version).filter(|v| !by_version.contains_key(v)) {
            let span = by_version
                .range(missing..)
                .next()
                .map_or(version_span, |(_, upcast)| upcast.span);
            errors.push(syn::Error::new(
                span,
                format!(
                    "no upcaster from version {missing}: rows stored at every version from \
                     {since} to {last} must be read (the event is at version {version}); add \
                     `upcast(from = {missing}, ...)`, or `since = {next}` if no older version \
                     was ever stored",
                    last = version - 1,
                    next = missing + 1,
                ),
            ));
            ok = false;
        }
    }
    ok
}
