//! The replica `Discover` both adapters balance reads over, polled by hand as a balancer
//! polls it: it follows each round's fit replicas with no await and no timer.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use tower::discover::Change;

use super::super::balance::FitReplicas;
use super::*;

type Discover = FitReplicas<Fake, fn(&Peer) -> u32, u32>;

/// Every change ready now, as `(inserted or removed, ordinal)` in that order (one
/// round's changes come in no particular order); then `Pending`.
fn drain(discover: &mut Discover) -> Vec<(&'static str, u32)> {
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    let mut seen = Vec::new();
    loop {
        let change: Poll<Option<Result<Change<PeerKey, u32>, Infallible>>> =
            Pin::new(&mut *discover).poll_next(&mut cx);
        match change {
            Poll::Ready(Some(Ok(Change::Insert(_, ordinal)))) => seen.push(("+", ordinal)),
            Poll::Ready(Some(Ok(Change::Remove(key)))) => {
                let ordinal = (0..10).find(|o| super::key(*o) == key);
                seen.push(("-", ordinal.expect("one of the test's pods")));
            }
            Poll::Ready(Some(Err(never))) => match never {},
            Poll::Ready(None) => panic!("the discover ended while its sender lives"),
            Poll::Pending => {
                seen.sort_unstable();
                return seen;
            }
        }
    }
}

#[test]
fn it_follows_each_rounds_fit_replicas_synchronously() {
    let first = Arc::new(topology(vec![leader(0), replica(1, 0), replica(2, 0)]));
    let (rounds, receiver) = tokio::sync::watch::channel(first);
    let make: fn(&Peer) -> u32 = |peer| peer.ordinal().unwrap_or(u32::MAX);
    let mut discover = Discover::fit_replicas(receiver, make);
    assert_eq!(drain(&mut discover), [("+", 1), ("+", 2)]);
    assert_eq!(discover.len(), 2);

    // Lagging or with its link down, a replica leaves; the change is seen on the very
    // next poll, before any task had a chance to run.
    let lagging = |pod| with(pod, |r: &mut Fake| r.unfit = Some(Unfit::LinkDown));
    rounds.send_replace(Arc::new(topology(vec![
        leader(0),
        replica(1, 0),
        lagging(replica(2, 0)),
    ])));
    assert_eq!(drain(&mut discover), [("-", 2)]);

    // A failover: the promoted pod leaves the replicas and the old leader joins them
    // once it follows the new one.
    rounds.send_replace(Arc::new(topology(vec![down(0), leader(1), replica(2, 1)])));
    assert_eq!(drain(&mut discover), [("+", 2), ("-", 1)]);
    rounds.send_replace(Arc::new(topology(vec![
        replica(0, 1),
        leader(1),
        replica(2, 1),
    ])));
    assert_eq!(drain(&mut discover), [("+", 0)]);
    assert_eq!(drain(&mut discover), [], "nothing changed, nothing yielded");

    drop(rounds);
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    assert!(matches!(
        Pin::new(&mut discover).poll_next(&mut cx),
        Poll::Ready(None)
    ));
}
