//! Which commands are reads: a documented, extensible table.
//!
//! A command not in the table is sent to the master. That includes everything that
//! writes, `MULTI`/`EXEC`/`WATCH` (transactions must stay on one server), `EVAL`/`FCALL`
//! (scripts may write; use `EVAL_RO`/`FCALL_RO`), blocking commands (`BLPOP`, `XREAD
//! BLOCK`…) and pub/sub.

use std::collections::HashSet;

/// Read-only commands (Redis 7 `COMMAND INFO` flag `readonly`, minus blocking variants).
pub const READ_ONLY_COMMANDS: &[&str] = &[
    "BITCOUNT",
    "BITFIELD_RO",
    "BITPOS",
    "DBSIZE",
    "DUMP",
    "EVALSHA_RO",
    "EVAL_RO",
    "EXISTS",
    "EXPIRETIME",
    "FCALL_RO",
    "GEODIST",
    "GEOHASH",
    "GEOPOS",
    "GEORADIUSBYMEMBER_RO",
    "GEORADIUS_RO",
    "GEOSEARCH",
    "GET",
    "GETBIT",
    "GETRANGE",
    "HEXISTS",
    "HGET",
    "HGETALL",
    "HKEYS",
    "HLEN",
    "HMGET",
    "HRANDFIELD",
    "HSCAN",
    "HSTRLEN",
    "HVALS",
    "KEYS",
    "LCS",
    "LINDEX",
    "LLEN",
    "LOLWUT",
    "LPOS",
    "LRANGE",
    "MGET",
    "OBJECT",
    "PEXPIRETIME",
    "PFCOUNT",
    "PTTL",
    "RANDOMKEY",
    "SCAN",
    "SCARD",
    "SDIFF",
    "SINTER",
    "SINTERCARD",
    "SISMEMBER",
    "SMEMBERS",
    "SMISMEMBER",
    "SORT_RO",
    "SRANDMEMBER",
    "SSCAN",
    "STRLEN",
    "SUBSTR",
    "SUNION",
    "TOUCH",
    "TTL",
    "TYPE",
    "XINFO",
    "XLEN",
    "XPENDING",
    "XRANGE",
    "XREVRANGE",
    "ZCARD",
    "ZCOUNT",
    "ZDIFF",
    "ZINTER",
    "ZINTERCARD",
    "ZLEXCOUNT",
    "ZMSCORE",
    "ZRANDMEMBER",
    "ZRANGE",
    "ZRANGEBYLEX",
    "ZRANGEBYSCORE",
    "ZRANK",
    "ZREVRANGE",
    "ZREVRANGEBYLEX",
    "ZREVRANGEBYSCORE",
    "ZREVRANK",
    "ZSCAN",
    "ZSCORE",
    "ZUNION",
];

/// The table the router consults; start from [`CommandTable::default`] and add your
/// modules' read-only commands.
#[derive(Debug, Clone)]
pub struct CommandTable {
    reads: HashSet<String>,
}

impl Default for CommandTable {
    fn default() -> Self {
        Self {
            reads: READ_ONLY_COMMANDS.iter().map(|c| (*c).to_owned()).collect(),
        }
    }
}

impl CommandTable {
    /// Marks `command` (any case) as a read, e.g. a module's `JSON.GET`.
    #[must_use]
    pub fn with_read(mut self, command: &str) -> Self {
        self.reads.insert(command.to_ascii_uppercase());
        self
    }

    /// Whether `command` (its first word, any case) may go to a replica.
    pub fn is_read(&self, command: &str) -> bool {
        self.reads.contains(&command.to_ascii_uppercase())
    }

    /// Whether this command may go to a replica: a read, and not a blocking form
    /// (`XREADGROUP` writes; `XREAD`/`XRANGE` are reads, but `XREAD ... BLOCK` waits).
    pub fn is_read_cmd(&self, cmd: &redis::Cmd) -> bool {
        let mut args = cmd.args_iter().filter_map(|a| match a {
            redis::Arg::Simple(bytes) => std::str::from_utf8(bytes).ok(),
            _ => None,
        });
        let Some(name) = args.next() else {
            return false;
        };
        if name.eq_ignore_ascii_case("XREAD") {
            return !args.any(|a| a.eq_ignore_ascii_case("BLOCK"));
        }
        self.is_read(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_writes_and_extensions() {
        let table = CommandTable::default().with_read("json.get");
        for read in [
            "get",
            "MGET",
            "smismember",
            "GEOSEARCH",
            "FCALL_RO",
            "EVAL_RO",
            "JSON.GET",
        ] {
            assert!(table.is_read(read), "{read}");
        }
        for write in [
            "SET",
            "MULTI",
            "EXEC",
            "WATCH",
            "EVAL",
            "FCALL",
            "BLPOP",
            "SUBSCRIBE",
            "XREADGROUP",
        ] {
            assert!(!table.is_read(write), "{write}");
        }
        assert!(table.is_read_cmd(redis::cmd("GET").arg("k")));
        assert!(!table.is_read_cmd(redis::cmd("SET").arg("k").arg("v")));
        assert!(
            table
                .clone()
                .with_read("XREAD")
                .is_read_cmd(redis::cmd("XREAD").arg("STREAMS").arg("s").arg("0"))
        );
        assert!(
            !table.with_read("XREAD").is_read_cmd(
                redis::cmd("XREAD")
                    .arg("BLOCK")
                    .arg(0)
                    .arg("STREAMS")
                    .arg("s")
                    .arg("$")
            )
        );
    }
}
