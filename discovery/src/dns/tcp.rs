//! One query over its own TCP connection, for answers too large for one DNS message.
//!
//! A headless Service with hundreds of pods has an SRV answer plus glue larger than the
//! 64 KiB a DNS message can hold. CoreDNS then packs as many records as fit and sets TC
//! even over TCP (miekg `Msg.Truncate`). hickory's pool turns that into an error; this
//! path keeps the message and marks it incomplete, and the resolver completes it from
//! the Service's address records (see `resolve::oversized`).

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::proto::op::{Message, MessageType, OpCode, Query};
use hickory_resolver::proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::DnsFailure;

/// Asks `server` over TCP and returns the message if it is usable (see the module docs),
/// with its size in bytes.
pub(crate) async fn query(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
    timeout: Duration,
) -> Result<(Message, usize), DnsFailure> {
    tokio::time::timeout(timeout, exchange(server, name, rtype))
        .await
        .map_err(|_| DnsFailure::Timeout)?
}

async fn exchange(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
) -> Result<(Message, usize), DnsFailure> {
    let id: u16 = rand::random();
    let mut request = Message::new(id, MessageType::Query, OpCode::Query);
    request.metadata.recursion_desired = true;
    request.add_query(Query::query(name.clone(), rtype));
    let bytes = request
        .to_vec()
        .map_err(|e| DnsFailure::Other(format!("encoding the query: {e}")))?;
    let length =
        u16::try_from(bytes.len()).map_err(|_| DnsFailure::Other("query too long".into()))?;

    let io = |e: std::io::Error| DnsFailure::Io(e.to_string());
    let mut stream = TcpStream::connect(server).await.map_err(io)?;
    let mut framed = Vec::with_capacity(bytes.len() + 2);
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(&bytes);
    stream.write_all(&framed).await.map_err(io)?;
    let mut prefix = [0u8; 2];
    stream.read_exact(&mut prefix).await.map_err(io)?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    stream.read_exact(&mut reply).await.map_err(io)?;

    let message = Message::from_vec(&reply)
        .map_err(|e| DnsFailure::Other(format!("malformed answer: {e}")))?;
    if message.metadata.id != id {
        return Err(DnsFailure::Other(
            "the answer's id does not match the query".into(),
        ));
    }
    Ok((message, reply.len()))
}
