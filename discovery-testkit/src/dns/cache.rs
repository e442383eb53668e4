//! CoreDNS's `cache` plugin in front of the zone, as the stock Corefile of kubeadm and
//! minikube has it (`cache 30`): an answer is kept for its smallest TTL, capped at the
//! cache's maximum and floored at 5 s, and served with its TTL counting down. Several
//! caches stand for several CoreDNS replicas behind the `kube-dns` Service: each query
//! goes to one at random, as kube-proxy spreads them.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use hickory_server::proto::rr::{Name, RecordType};

use super::answer::Reply;

/// CoreDNS's default minimum TTL for a cached answer (`success`/`denial` MINTTL).
const MIN_TTL: u32 = 5;

#[derive(Debug)]
struct Entry {
    reply: Reply,
    stored: Instant,
    ttl: u32,
}

/// The caches of one cluster's DNS, one per emulated CoreDNS replica.
#[derive(Debug)]
pub(crate) struct Caches {
    max_ttl: u32,
    replicas: Vec<Mutex<HashMap<(Name, RecordType), Entry>>>,
}

impl Caches {
    /// `replicas` caches (at least one) keeping answers for at most `max_ttl` seconds.
    pub(crate) fn new(max_ttl: u32, replicas: usize) -> Self {
        Self {
            max_ttl,
            replicas: (0..replicas.max(1)).map(|_| Mutex::default()).collect(),
        }
    }

    /// The answer to `name`/`rtype` from one replica's cache, computing and storing it
    /// with `fresh` when that replica has none, or only an expired one.
    pub(crate) fn answer(
        &self,
        name: &Name,
        rtype: RecordType,
        fresh: impl FnOnce() -> Reply,
    ) -> Reply {
        let index = rand::random_range(0..self.replicas.len());
        let Some(cache) = self.replicas.get(index) else {
            return fresh();
        };
        let key = (name.to_lowercase(), rtype);
        let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = cache.get(&key) {
            let age = entry.stored.elapsed();
            if age < Duration::from_secs(u64::from(entry.ttl)) {
                // Whole seconds left, as CoreDNS computes it.
                let left = entry.ttl - u32::try_from(age.as_secs()).unwrap_or(entry.ttl);
                return with_ttl(&entry.reply, left);
            }
        }
        let reply = fresh();
        let smallest = reply
            .answers
            .iter()
            .chain(&reply.soa)
            .chain(&reply.additionals)
            .map(|r| r.ttl)
            .min();
        if let Some(smallest) = smallest {
            let ttl = smallest.min(self.max_ttl).max(MIN_TTL);
            let served = with_ttl(&reply, ttl);
            cache.insert(
                key,
                Entry {
                    reply,
                    stored: Instant::now(),
                    ttl,
                },
            );
            return served;
        }
        reply
    }
}

/// A copy of `reply` with every record's TTL set to `ttl`.
fn with_ttl(reply: &Reply, ttl: u32) -> Reply {
    let set = |records: &Vec<_>| {
        records
            .iter()
            .cloned()
            .map(|mut r: hickory_server::proto::rr::Record| {
                r.ttl = ttl;
                r
            })
            .collect()
    };
    Reply {
        code: reply.code,
        answers: set(&reply.answers),
        additionals: set(&reply.additionals),
        soa: set(&reply.soa),
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_server::proto::rr::rdata::A;
    use hickory_server::proto::rr::{RData, Record};

    use super::*;

    fn name() -> Name {
        Name::from_ascii("redis.default.svc.cluster.local.").expect("name")
    }

    fn reply(ip: [u8; 4], ttl: u32) -> Reply {
        Reply {
            answers: vec![Record::from_rdata(
                name(),
                ttl,
                RData::A(A(Ipv4Addr::from(ip))),
            )],
            ..Reply::default()
        }
    }

    fn served(reply: &Reply) -> (Vec<RData>, Vec<u32>) {
        (
            reply.answers.iter().map(|r| r.data.clone()).collect(),
            reply.answers.iter().map(|r| r.ttl).collect(),
        )
    }

    #[test]
    fn an_answer_is_kept_for_its_ttl_capped_and_floored_and_served_counting_down() {
        let caches = Caches::new(30, 1);
        let first = caches.answer(&name(), RecordType::A, || reply([10, 0, 0, 1], 60));
        assert_eq!(served(&first).1, [30], "capped at the cache's 30 s");
        // The zone changed; the cache still answers the old address.
        let cached = caches.answer(&name(), RecordType::A, || reply([10, 0, 0, 2], 60));
        assert_eq!(served(&cached), served(&first));

        // 12.4 s later: 18 whole seconds left, as CoreDNS truncates the age.
        let key = (name().to_lowercase(), RecordType::A);
        if let Some(entry) = caches.replicas[0].lock().expect("lock").get_mut(&key) {
            entry.stored -= Duration::from_millis(12_400);
        }
        let later = caches.answer(&name(), RecordType::A, || reply([10, 0, 0, 2], 60));
        assert_eq!(served(&later).1, [18]);

        // Expired: the new answer, cached afresh.
        if let Some(entry) = caches.replicas[0].lock().expect("lock").get_mut(&key) {
            entry.stored -= Duration::from_secs(30);
        }
        let fresh = caches.answer(&name(), RecordType::A, || reply([10, 0, 0, 2], 60));
        assert_eq!(served(&fresh), served(&reply([10, 0, 0, 2], 30)));

        let short = Caches::new(30, 1);
        let floored = short.answer(&name(), RecordType::A, || reply([10, 0, 0, 1], 1));
        assert_eq!(
            served(&floored).1,
            [5],
            "CoreDNS keeps even a 1 s answer 5 s"
        );
    }

    #[test]
    fn each_replica_caches_on_its_own() {
        let caches = Caches::new(30, 2);
        let mut computed = 0;
        for _ in 0..200 {
            caches.answer(&name(), RecordType::A, || {
                computed += 1;
                reply([10, 0, 0, 1], 30)
            });
        }
        assert_eq!(computed, 2, "one miss per replica, then hits");
    }
}
