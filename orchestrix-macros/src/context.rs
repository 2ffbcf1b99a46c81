//! Whether an attribute's fn sits directly inside an `impl` (or `trait`)
//! block.
//!
//! An attribute sees only its own item, and an associated fn without `self`
//! reads exactly like a free fn; yet the item generated beside a handler
//! cannot work in an `impl` block (it names the fn as a free fn). Rather
//! than leave rustc to report that generated item, the macro looks at the
//! source around the fn — through the file, line and column of the fn's
//! name — and, for an associated fn, gives one error saying to move it.
//!
//! Anything it cannot read (no file, as in some IDE expansions; a fn whose
//! name comes from a `macro_rules!` variable; source it does not follow)
//! counts as "not in an `impl` block": the items are generated as usual and
//! rustc reports what it finds, as before. So a mistake here can only cost
//! the better message, never reject a valid handler, unless the source text
//! puts the fn's name inside an `impl` block while the compiler does not.
//!
//! The file is read for each fn, but its blocks are mapped once per text:
//! a file of many handlers costs one pass, not one per handler.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

/// Whether the fn `item` (an attribute's input) is written directly inside
/// an `impl` or `trait` block.
pub(crate) fn fn_inside_impl(item: &proc_macro::TokenStream) -> bool {
    let Some(name) = fn_name(item) else {
        return false;
    };
    let span = name.span();
    let Some(path) = span.local_file() else {
        return false;
    };
    let Ok(source) = std::fs::read_to_string(&path) else {
        return false;
    };
    let Some(offset) = offset_of(&source, span.line(), span.column(), &name.to_string()) else {
        return false;
    };
    // One compilation expands every handler of a file in the same process:
    // the file's blocks are found once, and again only when its text
    // changed (a long-lived expander, as in an IDE, sees edits).
    static LAST: Mutex<Option<(PathBuf, String, Vec<Block>)>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(PoisonError::into_inner);
    let blocks = match &*last {
        Some((last_path, last_source, blocks)) if *last_path == path && *last_source == source => {
            blocks
        }
        _ => {
            let blocks = blocks(&source);
            &last.insert((path, source, blocks)).2
        }
    };
    directly_in_impl(blocks, offset)
}

/// The ident after `fn` among the item's top-level tokens.
fn fn_name(item: &proc_macro::TokenStream) -> Option<proc_macro::Ident> {
    let mut tokens = item.clone().into_iter();
    while let Some(token) = tokens.next() {
        if let proc_macro::TokenTree::Ident(ident) = &token
            && ident.to_string() == "fn"
        {
            return match tokens.next() {
                Some(proc_macro::TokenTree::Ident(name)) => Some(name),
                _ => None,
            };
        }
    }
    None
}

/// The byte offset of `name` at `line` (1-based) and `column` (counted in
/// chars; taken as 1-based, or 0-based if that is where the name is).
fn offset_of(source: &str, line: usize, column: usize, name: &str) -> Option<usize> {
    let line_start = if line <= 1 {
        0
    } else {
        source.match_indices('\n').nth(line - 2)?.0 + 1
    };
    let text = &source[line_start..];
    let text = &text[..text.find('\n').unwrap_or(text.len())];
    [column.checked_sub(1), Some(column)]
        .into_iter()
        .flatten()
        .filter_map(|chars| {
            let byte = text.char_indices().nth(chars).map(|(byte, _)| byte)?;
            let rest = &text[byte..];
            let after = rest.strip_prefix(name)?.chars().next();
            (!after.is_some_and(is_ident_char)).then_some(line_start + byte)
        })
        .next()
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// A `{ .. }` of the source: where it opens and closes (`None`: never), and
/// whether it is the body of an `impl` or `trait` block.
#[derive(Clone, Copy, Debug)]
struct Block {
    open: usize,
    close: Option<usize>,
    impl_body: bool,
}

/// Whether the innermost `{ .. }` around `offset` is the body of an `impl`
/// or `trait` block.
fn directly_in_impl(blocks: &[Block], offset: usize) -> bool {
    // Blocks are in the order they open: the last one open at `offset` is
    // the innermost.
    blocks
        .iter()
        .take_while(|block| block.open < offset)
        .filter(|block| block.close.is_none_or(|close| close >= offset))
        .last()
        .is_some_and(|block| block.impl_body)
}

/// Every `{ .. }` of `source`, in the order they open: a lexer just good
/// enough for braces (comments, strings, raw strings and char literals are
/// skipped; lifetimes are not chars).
fn blocks(source: &str) -> Vec<Block> {
    let bytes = source.as_bytes();
    let mut blocks: Vec<Block> = Vec::new();
    // The indices in `blocks` of the braces open here.
    let mut open: Vec<usize> = Vec::new();
    // The code since the last `;`, `{` or `}`: the header of the next block.
    let mut header = String::new();
    let mut previous_ident = false;
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        let next = bytes.get(i + 1).copied();
        let literal_end = match byte {
            b'/' if next == Some(b'/') => {
                i = source[i..].find('\n').map_or(bytes.len(), |end| i + end);
                continue;
            }
            b'/' if next == Some(b'*') => Some(block_comment_end(bytes, i)),
            b'"' => Some(string_end(bytes, i + 1)),
            b'r' | b'b' | b'c' if !previous_ident => prefixed_literal_end(bytes, i),
            b'\'' => char_literal_end(source, i),
            _ => None,
        };
        if let Some(end) = literal_end {
            header.push(' ');
            previous_ident = false;
            i = end;
            continue;
        }
        match byte {
            b'{' => {
                open.push(blocks.len());
                blocks.push(Block {
                    open: i,
                    close: None,
                    impl_body: is_impl_header(&header),
                });
                header.clear();
            }
            b'}' => {
                if let Some(index) = open.pop() {
                    blocks[index].close = Some(i);
                }
                header.clear();
            }
            b';' => header.clear(),
            _ => header.push(if byte.is_ascii() { byte as char } else { 'x' }),
        }
        previous_ident = byte.is_ascii_alphanumeric() || byte == b'_' || !byte.is_ascii();
        i += 1;
    }
    blocks
}

/// Past the `*/` closing the (nestable) block comment opened at `start`.
fn block_comment_end(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Past the `"` closing a string whose contents start at `i`.
fn string_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The end of a `b"..."`, `c"..."`, `b'x'`, `r"..."`, `r#"..."#`, `br"..."`
/// or `cr"..."` literal starting at `start`, or `None` if none starts there
/// (an ident such as `r#type` or `bar`).
fn prefixed_literal_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start;
    if matches!(bytes[i], b'b' | b'c') {
        i += 1;
        match bytes.get(i) {
            Some(b'"') => return Some(string_end(bytes, i + 1)),
            Some(b'\'') if bytes[start] == b'b' => return Some(string_end_quote(bytes, i + 1)),
            Some(b'r') => {}
            _ => return None,
        }
    }
    // A raw string: `r`, hashes, `"`.
    i += 1;
    let hashes = bytes[i..].iter().take_while(|&&b| b == b'#').count();
    i += hashes;
    if bytes.get(i) != Some(&b'"') {
        return None;
    }
    i += 1;
    while i < bytes.len() {
        if bytes[i] == b'"'
            && bytes[i + 1..]
                .iter()
                .take(hashes)
                .filter(|&&b| b == b'#')
                .count()
                == hashes
        {
            return Some(i + 1 + hashes);
        }
        i += 1;
    }
    Some(bytes.len())
}

/// Past the `'` closing a byte literal whose contents start at `i`.
fn string_end_quote(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\'' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The end of the char literal at `start` (`'a'`, `'{'`, `'\n'`), or `None`
/// for a lifetime or label (`'a`, `'static`).
fn char_literal_end(source: &str, start: usize) -> Option<usize> {
    let rest = &source[start + 1..];
    let mut chars = rest.chars();
    match chars.next()? {
        '\\' => Some(string_end_quote(source.as_bytes(), start + 1)),
        c => (chars.next() == Some('\'')).then(|| start + 1 + c.len_utf8() + 1),
    }
}

/// Whether a block header (the code before a `{`) opens an `impl` or
/// `trait` block: after attributes, `pub(..)`, `unsafe`, `default`, `auto`.
fn is_impl_header(header: &str) -> bool {
    let mut rest = header.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix('#') {
            let after = after.trim_start();
            let after = after.strip_prefix('!').unwrap_or(after).trim_start();
            match after.strip_prefix('[') {
                Some(inner) => rest = skip_group(inner, b'[', b']').trim_start(),
                None => return false,
            }
        } else if let Some(after) = strip_word(rest, "pub") {
            let after = after.trim_start();
            rest = match after.strip_prefix('(') {
                Some(inner) => skip_group(inner, b'(', b')'),
                None => after,
            }
            .trim_start();
        } else if let Some(after) = ["unsafe", "default", "auto"]
            .into_iter()
            .find_map(|word| strip_word(rest, word))
        {
            rest = after.trim_start();
        } else {
            return strip_word(rest, "impl").is_some() || strip_word(rest, "trait").is_some();
        }
    }
}

/// `text` without the leading `word` (a whole word), if it starts with it.
fn strip_word<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let rest = text.strip_prefix(word)?;
    (!rest.chars().next().is_some_and(is_ident_char)).then_some(rest)
}

/// What follows the group whose contents start `inner` (its opening
/// delimiter already taken).
fn skip_group(inner: &str, open: u8, close: u8) -> &str {
    let mut depth = 1usize;
    for (index, byte) in inner.bytes().enumerate() {
        if byte == open {
            depth += 1;
        } else if byte == close {
            depth -= 1;
            if depth == 0 {
                return &inner[index + 1..];
            }
        }
    }
    ""
}

#[cfg(test)]
mod tests {
    use super::{blocks, directly_in_impl, offset_of};

    fn inside(source: &str) -> bool {
        let offset = source.find("target").expect("a target");
        directly_in_impl(&blocks(source), offset)
    }

    #[test]
    fn impl_and_trait_blocks_are_found() {
        assert!(inside("struct S;\nimpl S {\n    fn target() {}\n}"));
        assert!(inside(
            "impl<T: Clone> Tr for S<T> where T: Copy { fn target() {} }"
        ));
        assert!(inside(
            "#[attr(x)] pub(crate) unsafe impl Send for S { fn target() {} }"
        ));
        assert!(inside("pub trait T { fn target() {} }"));
        assert!(inside("mod m { impl S { /* } */ fn target() {} } }"));
    }

    #[test]
    fn module_level_and_fn_bodies_are_not_impl_blocks() {
        assert!(!inside("fn target() {}"));
        assert!(!inside("mod m { fn target() {} }"));
        assert!(!inside("impl S { fn f() { fn target() {} } }"));
        assert!(!inside("impl S { fn f() {} }\nfn target() {}"));
        assert!(!inside("const _: () = { fn target() {} };"));
        assert!(!inside("struct implement { a: u8 }\nfn target() {}"));
    }

    #[test]
    fn braces_in_literals_and_comments_are_skipped() {
        assert!(!inside(
            "impl S { fn f() { let _ = '}'; } }\nfn target() {}"
        ));
        assert!(!inside(
            "impl S { fn f() { let _ = \"}\"; } }\nfn target() {}"
        ));
        assert!(!inside(
            "impl S { fn f() { let _ = r#\"}\"#; } }\nfn target() {}"
        ));
        assert!(!inside(
            "impl S { fn f() { let _ = b'}'; } }\nfn target() {}"
        ));
        assert!(!inside("impl S { // }\n }\nfn target() {}"));
        assert!(!inside(
            "impl<'a> S<'a> { fn f(_: &'a str) {} }\nfn target() {}"
        ));
        assert!(!inside(
            "impl S { fn f() { let r#type = 1; } }\nfn target() {}"
        ));
        assert!(inside(
            "impl S { fn f() { let _ = '\\''; } fn target() {} }"
        ));
    }

    #[test]
    fn one_map_of_a_file_answers_for_each_fn_in_it() {
        let source = "impl S {\n    fn a() {}\n}\nfn b() {}\nmod m { trait T { fn c(); } fn d() {} }\nimpl S { fn e() {}";
        let blocks = blocks(source);
        let at = |name: &str| source.find(name).expect("a name");
        assert!(directly_in_impl(&blocks, at("a()")));
        assert!(!directly_in_impl(&blocks, at("b()")));
        assert!(directly_in_impl(&blocks, at("c()")));
        assert!(!directly_in_impl(&blocks, at("d()")));
        // A block left open runs to the end of the file.
        assert!(directly_in_impl(&blocks, at("e()")));
    }

    #[test]
    fn the_name_is_found_at_its_column() {
        let source = "mod m {\n    fn target() {}\n}";
        let expected = source.find("target");
        assert_eq!(offset_of(source, 2, 8, "target"), expected);
        assert_eq!(offset_of(source, 2, 7, "target"), expected);
        assert_eq!(offset_of(source, 2, 3, "target"), None);
        assert_eq!(offset_of(source, 2, 8, "targ"), None);
    }
}
