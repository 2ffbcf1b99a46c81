//! Versioned schema migrations shipped in the crate, shared by the
//! SQL-backed stores (PostgreSQL, SQLite): each backend has its own runner
//! and its own SQL, but a migration is the same thing everywhere.

/// One versioned step of a store's schema, shipped in the crate
/// (`orchestrix/migrations/NNNN_description.sql` for PostgreSQL,
/// `orchestrix/migrations/sqlite/NNNN_description.sql` for SQLite).
///
/// A released migration never changes: the runners record a checksum of
/// the text when they apply it and refuse a migration whose text differs
/// from the one recorded as applied.
///
/// Version ranges: `1..100` belong to the event store, `100..200` to the
/// saga state store, `200..300` to the projection state store, `300..400` to
/// the delivery store.
///
/// ```
/// use orchestrix::migration::Migration;
///
/// const MIGRATIONS: &[Migration] = &[Migration::new(
///     100,
///     "saga state",
///     "CREATE TABLE sagas (saga_id text PRIMARY KEY, state jsonb NOT NULL);",
/// )];
/// assert_eq!(MIGRATIONS[0].version(), 100);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Migration {
    version: i64,
    description: &'static str,
    sql: &'static str,
}

impl Migration {
    /// A migration with its version number, a short description and its SQL
    /// (usually `include_str!("../../migrations/NNNN_name.sql")`).
    pub const fn new(version: i64, description: &'static str, sql: &'static str) -> Self {
        Self {
            version,
            description,
            sql,
        }
    }

    /// The version number; migrations apply in ascending order.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// The short description.
    pub fn description(&self) -> &'static str {
        self.description
    }

    /// The SQL (a template with placeholders for PostgreSQL, see
    /// `orchestrix::postgres::migrate`).
    pub fn sql(&self) -> &'static str {
        self.sql
    }

    /// A checksum of the SQL, recorded when the migration is applied
    /// (64-bit FNV-1a: stable across builds and platforms).
    pub fn checksum(&self) -> i64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in self.sql.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        i64::from_ne_bytes(hash.to_ne_bytes())
    }
}

/// Checks that `migrations` are listed in strictly ascending version order;
/// the error says which two are not.
pub(crate) fn check_order(migrations: &[Migration]) -> Result<(), String> {
    for pair in migrations.windows(2) {
        if pair[0].version >= pair[1].version {
            return Err(format!(
                "migrations must be listed in strictly ascending version order, but {} ({}) comes before {} ({})",
                pair[0].version, pair[0].description, pair[1].version, pair[1].description
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_follows_the_text() {
        let a = Migration::new(1, "a", "CREATE TABLE t (x int);");
        let b = Migration::new(1, "a", "CREATE TABLE t (x bigint);");
        assert_eq!(a.checksum(), Migration::new(7, "other", a.sql()).checksum());
        assert_ne!(a.checksum(), b.checksum());
    }

    #[test]
    fn out_of_order_lists_are_refused() {
        let list = [Migration::new(2, "b", ""), Migration::new(1, "a", "")];
        let error = check_order(&list).expect_err("out of order");
        assert!(error.contains("2 (b) comes before 1 (a)"), "{error}");
    }
}
