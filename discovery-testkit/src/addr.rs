//! Loopback addresses for pods, unique per test even across processes.
//!
//! Linux routes all of 127.0.0.0/8 to `lo`, so any `127.a.b.c` can be bound without setup.
//! A pool claims a whole `127.a.b.0/24` block by binding a marker socket on its `.254`
//! address; another pool, in this process or another (`cargo nextest` runs each test in
//! its own process), finds the marker taken and picks another block. Pods of one
//! StatefulSet can then share a port, as they do in Kubernetes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener};
use std::sync::Mutex;

use crate::Error;
use crate::model::IpFamily;

/// The port of the marker socket that claims a block.
const CLAIM_PORT: u16 = 47_999;
/// Hosts `.1` to `.250` of each block go to pods; `.251`-`.253` serve the cluster itself.
const HOSTS_PER_BLOCK: u8 = 250;
const CLAIM_ATTEMPTS: usize = 512;

/// Hands out pod addresses from loopback blocks this pool has claimed.
#[derive(Debug)]
pub struct AddressPool {
    state: Mutex<PoolState>,
}

#[derive(Debug)]
struct PoolState {
    blocks: Vec<Block>,
    next_host: u8,
    next_v6: u32,
}

#[derive(Debug)]
struct Block {
    prefix: [u8; 2],
    _claim: TcpListener,
}

impl AddressPool {
    /// Claims a first block.
    ///
    /// # Errors
    ///
    /// [`Error::Addresses`] if no free block was found.
    pub fn new() -> Result<Self, Error> {
        let first = claim_block()?;
        Ok(Self {
            state: Mutex::new(PoolState {
                blocks: vec![first],
                next_host: 1,
                next_v6: 1,
            }),
        })
    }

    /// A fresh pod address of the given family.
    ///
    /// # Errors
    ///
    /// [`Error::Addresses`] if no free block was found.
    pub fn next(&self, family: IpFamily) -> Result<IpAddr, Error> {
        Ok(match family {
            IpFamily::V4 => IpAddr::V4(self.next_v4()?),
            IpFamily::V6 => IpAddr::V6(self.next_v6()),
        })
    }

    /// A fresh IPv4 loopback address, claiming another block when one runs out.
    ///
    /// # Errors
    ///
    /// [`Error::Addresses`] if no free block was found.
    pub fn next_v4(&self) -> Result<Ipv4Addr, Error> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.next_host > HOSTS_PER_BLOCK {
            let block = claim_block()?;
            state.blocks.push(block);
            state.next_host = 1;
        }
        let host = state.next_host;
        state.next_host += 1;
        let [a, b] = state
            .blocks
            .last()
            .map(|b| b.prefix)
            .ok_or_else(|| Error::Addresses("the pool has no block".into()))?;
        Ok(Ipv4Addr::new(127, a, b, host))
    }

    /// A fresh IPv6 pod address: a unique-local `fd00:d15c::/32` address derived from this
    /// pool's block. Linux loopback only has `::1`, so nothing can listen on it: IPv6 pods
    /// serve DNS tests, not connections.
    pub fn next_v6(&self) -> Ipv6Addr {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = state.next_v6;
        state.next_v6 += 1;
        let [a, b] = state.blocks.first().map_or([0, 0], |b| b.prefix);
        Ipv6Addr::new(
            0xfd00,
            0xd15c,
            u16::from(a),
            u16::from(b),
            0,
            0,
            (n >> 16) as u16,
            (n & 0xffff) as u16,
        )
    }

    /// An address of this pool's first block reserved for the cluster's own servers
    /// (`.251` to `.253`).
    pub fn infrastructure(&self, index: u8) -> IpAddr {
        let state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let [a, b] = state.blocks.first().map_or([0, 1], |b| b.prefix);
        IpAddr::V4(Ipv4Addr::new(127, a, b, 251 + index.min(2)))
    }
}

fn claim_block() -> Result<Block, Error> {
    for _ in 0..CLAIM_ATTEMPTS {
        // 127.0.x.x is left alone: the machine's own services live on 127.0.0.1.
        let prefix = [rand::random_range(1..=254u8), rand::random_range(0..=255u8)];
        let marker = Ipv4Addr::new(127, prefix[0], prefix[1], 254);
        if let Ok(claim) = TcpListener::bind((marker, CLAIM_PORT)) {
            return Ok(Block {
                prefix,
                _claim: claim,
            });
        }
    }
    Err(Error::Addresses(format!(
        "no free 127.x.y.0/24 block after {CLAIM_ATTEMPTS} tries (each is claimed by binding .254:{CLAIM_PORT})"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_pools_never_share_a_block() {
        let a = AddressPool::new().expect("pool a");
        let b = AddressPool::new().expect("pool b");
        let (ia, ib) = (a.next_v4().expect("a"), b.next_v4().expect("b"));
        assert_ne!(ia.octets()[1..3], ib.octets()[1..3]);
    }

    #[test]
    fn a_pool_grows_past_one_block() {
        let pool = AddressPool::new().expect("pool");
        let ips: std::collections::HashSet<_> =
            (0..600).map(|_| pool.next_v4().expect("address")).collect();
        assert_eq!(ips.len(), 600);
        assert!(
            ips.iter()
                .all(|ip| ip.octets()[0] == 127 && ip.octets()[3] <= HOSTS_PER_BLOCK)
        );
    }
}
