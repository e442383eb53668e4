//! [`Statement`] and [`Reply`]: what the routed calls and the tower services take and give.

use headless_discovery::Peer;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Row};

/// SQL with its parameters. Without parameters it runs as a plain text query; with them,
/// as a prepared statement (cached per connection).
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    sql: String,
    params: Params,
}

impl Statement {
    /// SQL without parameters.
    pub fn new(sql: impl Into<String>) -> Self {
        Self {
            sql: sql.into(),
            params: Params::Empty,
        }
    }

    /// The same SQL with these parameters (`?` placeholders, or `:name` ones).
    #[must_use]
    pub fn with_params(mut self, params: impl Into<Params>) -> Self {
        self.params = params.into();
        self
    }

    /// The SQL text.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    pub(crate) async fn run(
        &self,
        conn: &mut Conn,
    ) -> Result<(Vec<Row>, u64, Option<u64>), mysql_async::Error> {
        let rows = match &self.params {
            Params::Empty => conn.query::<Row, _>(self.sql.as_str()).await?,
            params => {
                conn.exec::<Row, _, _>(self.sql.as_str(), params.clone())
                    .await?
            }
        };
        Ok((rows, conn.affected_rows(), conn.last_insert_id()))
    }
}

impl From<&str> for Statement {
    fn from(sql: &str) -> Self {
        Self::new(sql)
    }
}

impl From<String> for Statement {
    fn from(sql: String) -> Self {
        Self::new(sql)
    }
}

/// What a statement returned, and which pod ran it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Reply {
    /// The pod that ran it.
    pub pod: Peer,
    /// The rows, if it returned any.
    pub rows: Vec<Row>,
    /// Rows changed (writes).
    pub affected_rows: u64,
    /// The id an `AUTO_INCREMENT` insert made.
    pub last_insert_id: Option<u64>,
}

impl Reply {
    pub(crate) fn new(
        pod: Peer,
        (rows, affected_rows, last_insert_id): (Vec<Row>, u64, Option<u64>),
    ) -> Self {
        Self {
            pod,
            rows,
            affected_rows,
            last_insert_id,
        }
    }
}
