//! [`Follower`]: the background task of one watch on the API source. It lists and
//! watches the Service's EndpointSlices (kube-runtime's watcher: list, then watch from
//! the list's resourceVersion, relist after 410 Gone) and publishes what they say.

use std::pin::Pin;
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};
use tracing::debug;

use super::error::from_watcher;
use super::slices::{Slice, Slices};
use crate::config::Config;
use crate::error::Result;
use crate::peer::PeerSet;
use crate::watch::{Publisher, Schedule};

type Events = Pin<Box<dyn Stream<Item = watcher::Result<Event<EndpointSlice>>> + Send>>;

/// The label the EndpointSlice controller puts on every slice of a Service.
pub(crate) const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Everything the follow loop owns.
pub(crate) struct Follower {
    api: Api<EndpointSlice>,
    selector: String,
    events: Events,
    out: Publisher,
    schedule: Schedule,
    slices: Slices,
    /// The slices of a list in progress (between `Init` and `InitDone`): they replace
    /// the current ones at once at its end, so a relist publishes only what changed.
    relist: Option<Slices>,
    /// Addresses dropped because they were not IPs.
    rejected: usize,
}

/// kube-runtime's watcher on the slices `selector` picks: list, then watch from there.
fn watch(api: &Api<EndpointSlice>, selector: &str) -> Events {
    watcher::watcher(api.clone(), watcher::Config::default().labels(selector)).boxed()
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("service", &self.out.service)
            .field("slices", &self.slices)
            .finish_non_exhaustive()
    }
}

impl Follower {
    pub(crate) fn new(client: Client, out: Publisher, config: &Config) -> Self {
        let service = &out.service;
        let api: Api<EndpointSlice> = Api::namespaced(client, service.namespace());
        let selector = format!("{SERVICE_NAME_LABEL}={}", service.service());
        let events = watch(&api, &selector);
        Self {
            api,
            selector,
            events,
            out,
            schedule: Schedule::new(config),
            slices: Slices::default(),
            relist: None,
            rejected: 0,
        }
    }

    /// Follows the slices until the first complete list, for an eager start; its
    /// failure goes straight back to the caller.
    pub(crate) async fn first(&mut self) -> Result<PeerSet> {
        loop {
            match self.events.next().await {
                Some(Ok(event)) => {
                    if self.apply(event) {
                        // A port the slices do not have is the caller's mistake: say so now.
                        self.slices.peers(&self.out.service)?;
                        return Ok(self.published());
                    }
                }
                Some(Err(error)) => return Err(from_watcher(&self.out.service, error)),
                None => return Ok(self.published()),
            }
        }
    }

    /// The loop. It never returns: the handle aborts it when the last clone is dropped.
    pub(crate) async fn run(mut self) {
        let mut grace: Option<tokio::time::Instant> = None;
        loop {
            let event = match grace {
                Some(deadline) => tokio::select! {
                    event = self.events.next() => event,
                    () = tokio::time::sleep_until(deadline) => {
                        grace = self.settle().map(|left| tokio::time::Instant::now() + left);
                        continue;
                    }
                },
                None => self.events.next().await,
            };
            match event {
                Some(Ok(event)) => {
                    if self.apply(event) {
                        grace = self.settle().map(|left| tokio::time::Instant::now() + left);
                    }
                }
                Some(Err(watcher::Error::WatchError(status))) if status.code == 410 => {
                    // Routine: the watcher lists again at once, and the relist's end
                    // publishes only what changed.
                    debug!(service = %self.out.service, "EndpointSlice watch expired (410); relisting");
                }
                Some(Err(error)) => {
                    let error = from_watcher(&self.out.service, error);
                    debug!(service = %self.out.service, %error, "EndpointSlice watch failed");
                    self.out.mark_degraded(error, self.schedule.failures() + 1);
                    // Back off as the DNS refresher does, then list afresh: a watch that
                    // resumes shows no event while nothing changes, so only a list's end
                    // can say the API answers again (and it publishes only differences).
                    tokio::time::sleep(self.schedule.after_failure()).await;
                    self.events = watch(&self.api, &self.selector);
                }
                // The watcher's stream does not end; if it did, there is nothing to follow.
                None => std::future::pending::<()>().await,
            }
        }
    }

    /// Takes one watcher event in. Returns whether the slices as a whole are known and
    /// changed (so they are worth publishing): not inside a list.
    fn apply(&mut self, event: Event<EndpointSlice>) -> bool {
        match event {
            Event::Init => {
                self.relist = Some(Slices::default());
                false
            }
            Event::InitApply(slice) => {
                let name = slice.name_any();
                let slice = Slice::new(slice, &mut self.rejected);
                self.relist.get_or_insert_default().apply(name, slice);
                false
            }
            Event::InitDone => {
                self.slices = self.relist.take().unwrap_or_default();
                true
            }
            Event::Apply(slice) => {
                let name = slice.name_any();
                let slice = Slice::new(slice, &mut self.rejected);
                self.slices.apply(name, slice);
                true
            }
            Event::Delete(slice) => {
                self.slices.delete(&slice.name_any());
                true
            }
        }
    }

    /// Publishes the merged slices (or starts or continues the empty grace). Returns how
    /// long until the grace period ends, if one is running.
    fn settle(&mut self) -> Option<Duration> {
        self.schedule.reset();
        self.out.add_rejected(std::mem::take(&mut self.rejected));
        match self.slices.peers(&self.out.service) {
            Ok(peers) if peers.is_empty() => {
                self.out.mark_healthy();
                self.out.no_ready_pods()
            }
            Ok(peers) => {
                self.out.mark_healthy();
                self.out.publish(peers);
                None
            }
            Err(error) => {
                self.out.mark_degraded(error, self.schedule.failures() + 1);
                None
            }
        }
    }

    /// Publishes the first list as it is (no grace: there was nothing before it).
    fn published(&mut self) -> PeerSet {
        let _ = self.settle();
        self.out.current()
    }
}
