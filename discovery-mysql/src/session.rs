//! What a lost connection means for a statement on a session: whether it can have
//! applied anything, from the statement's first keyword and the transaction state the
//! server reported in its last reply.
//!
//! The server rolls back a transaction whose connection drops (or whose server dies)
//! before its `COMMIT`, so a statement that breaks inside a transaction and does not
//! commit it applied nothing. Everything else that breaks after it was sent is an
//! unknown outcome.

use mysql_async::Conn;
use mysql_async::consts::StatusFlags;

/// What a connection that breaks under a statement means for the statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnBreak {
    /// Nothing of it (nor of the open transaction) is applied: the server rolls the
    /// transaction back.
    RolledBack,
    /// It may have been applied.
    Unknown,
}

/// What a break under `sql`, sent next on `conn`, would mean.
pub(crate) fn on_break(conn: &Conn, sql: &str) -> OnBreak {
    let Some(state) = TransactionState::of(conn) else {
        // The last reply was an error, which carries no status: assume the worst.
        return OnBreak::Unknown;
    };
    let rolls_back = match Keyword::of(sql) {
        // Ends the transaction without committing, or there was none.
        Keyword::Rollback => true,
        // Implicitly commits an open transaction; else applies nothing.
        Keyword::Begin => !state.in_transaction,
        Keyword::NeverCommits => state.in_transaction || !state.autocommit,
        Keyword::Other => false,
    };
    if rolls_back {
        OnBreak::RolledBack
    } else {
        OnBreak::Unknown
    }
}

/// The session's transaction state as of the server's last OK or EOF packet.
#[derive(Debug, Clone, Copy)]
struct TransactionState {
    /// A transaction is open (`SERVER_STATUS_IN_TRANS`).
    in_transaction: bool,
    /// `autocommit` is on: a statement outside a transaction commits itself.
    autocommit: bool,
}

impl TransactionState {
    fn of(conn: &Conn) -> Option<Self> {
        let flags = conn.last_ok_packet()?.status_flags();
        Some(Self {
            in_transaction: flags.contains(StatusFlags::SERVER_STATUS_IN_TRANS),
            autocommit: flags.contains(StatusFlags::SERVER_STATUS_AUTOCOMMIT),
        })
    }
}

/// A statement's kind, as far as commits go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keyword {
    /// `ROLLBACK` (also `ROLLBACK TO SAVEPOINT`): never commits.
    Rollback,
    /// `BEGIN`, `START TRANSACTION`: commits a transaction already open.
    Begin,
    /// DML and savepoints, which never commit implicitly (a stored function or trigger
    /// may not commit either: error 1422).
    NeverCommits,
    /// Anything else: `COMMIT`, DDL, `SET` (`SET autocommit = 1` commits), `CALL` (a
    /// procedure may commit), `LOCK TABLES`, `XA`, a statement opening with a comment.
    Other,
}

impl Keyword {
    /// From the statement's first word, compared in place: this runs before every
    /// statement on a session, so it allocates nothing.
    fn of(sql: &str) -> Self {
        const NEVER_COMMITS: [&str; 11] = [
            "SELECT",
            "INSERT",
            "UPDATE",
            "DELETE",
            "REPLACE",
            "WITH",
            "DO",
            "VALUES",
            "TABLE",
            "SAVEPOINT",
            "RELEASE",
        ];
        let sql = sql.trim_start();
        let end = sql
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(sql.len());
        let word = &sql[..end];
        let is = |keyword: &str| word.eq_ignore_ascii_case(keyword);
        if is("ROLLBACK") {
            Self::Rollback
        } else if is("BEGIN") || is("START") {
            Self::Begin
        } else if NEVER_COMMITS.iter().any(|keyword| is(keyword)) {
            Self::NeverCommits
        } else {
            Self::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_by_what_they_commit() {
        let table = [
            ("INSERT INTO t VALUES (1)", Keyword::NeverCommits),
            ("  update t set v = 2", Keyword::NeverCommits),
            ("\n\tDelete FROM t", Keyword::NeverCommits),
            ("SELECT 1 FOR UPDATE", Keyword::NeverCommits),
            (
                "WITH x AS (SELECT 1) UPDATE t SET v = 1",
                Keyword::NeverCommits,
            ),
            ("SAVEPOINT a", Keyword::NeverCommits),
            ("RELEASE SAVEPOINT a", Keyword::NeverCommits),
            ("ROLLBACK", Keyword::Rollback),
            ("rollback to savepoint a", Keyword::Rollback),
            ("BEGIN", Keyword::Begin),
            ("START TRANSACTION", Keyword::Begin),
            ("COMMIT", Keyword::Other),
            ("SET autocommit = 1", Keyword::Other),
            ("CREATE TABLE u (id INT)", Keyword::Other),
            ("CALL p()", Keyword::Other),
            ("XA END 'x'", Keyword::Other),
            ("/* note */ INSERT INTO t VALUES (1)", Keyword::Other),
            ("(SELECT 1)", Keyword::Other),
            ("SELECTED", Keyword::Other),
            ("", Keyword::Other),
        ];
        for (sql, expected) in table {
            assert_eq!(Keyword::of(sql), expected, "{sql:?}");
        }
    }
}
