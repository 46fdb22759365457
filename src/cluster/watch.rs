//! Watches over the configured namespace scope, one per kind, feeding the one cache.
//!
//! Each watch fills one store and tells an [`Observer`] (the index) about every event, then hands the
//! objects it touched to a [`Feed`], which the reconciler's controllers subscribe to while this replica
//! leads. With all namespaces the store is a plain reflector. With a list of namespaces there is one watch
//! per namespace, merged into a single store; each namespace's re-list is translated into plain applies and
//! deletes of that namespace only (a re-list of one namespace must not wipe the others, which the store's
//! own init handling would do).

use std::collections::HashSet;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::mpsc;
use futures::stream::{self, BoxStream};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, PartialObjectMeta};
use kube::runtime::reflector::{self, store::Writer, Store};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use super::Scope;

/// Told about every watch event of a kind before the store applies it (the cache's index). `applied` may
/// slim the object further before it is stored.
pub trait Observer<K>: Send + Sync + 'static {
    /// A (re-)list of `namespace` (every namespace with `None`) begins.
    fn begin_relist(&self, _namespace: Option<&str>) {}
    fn applied(&self, _object: &mut K) {}
    fn deleted(&self, _object: &K) {}
    /// The (re-)list of `namespace` is complete: what it did not deliver is gone.
    fn end_relist(&self, _namespace: Option<&str>) {}
}

/// No index for this kind.
pub struct NoIndex;

impl<K> Observer<K> for NoIndex {}

fn observe<K: 'static>(
    observer: &dyn Observer<K>,
    namespace: Option<&str>,
    mut event: watcher::Result<Event<K>>,
) -> watcher::Result<Event<K>> {
    match &mut event {
        Ok(Event::Init) => observer.begin_relist(namespace),
        Ok(Event::InitApply(object)) | Ok(Event::Apply(object)) => observer.applied(object),
        Ok(Event::Delete(object)) => observer.deleted(object),
        Ok(Event::InitDone) => observer.end_relist(namespace),
        Err(_) => {}
    }
    event
}

/// Subscribers of a kind's touched objects. Controllers subscribe when this replica starts leading and
/// drop their stream when it stops; a closed subscriber is forgotten at the next object.
pub struct Feed<K> {
    subscribers: Arc<Mutex<Vec<mpsc::UnboundedSender<K>>>>,
}

impl<K> Clone for Feed<K> {
    fn clone(&self) -> Self {
        Feed {
            subscribers: self.subscribers.clone(),
        }
    }
}

impl<K> Default for Feed<K> {
    fn default() -> Self {
        Feed {
            subscribers: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

impl<K: Clone + Send + 'static> Feed<K> {
    /// The objects touched from now on, each delivered after the store applied it.
    pub fn subscribe(&self) -> Touched<K> {
        let (tx, rx) = mpsc::unbounded();
        self.lock().push(tx);
        rx.map(Ok).boxed()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<mpsc::UnboundedSender<K>>> {
        self.subscribers.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish(&self, object: &K) {
        self.lock()
            .retain(|tx| tx.unbounded_send(object.clone()).is_ok());
    }

    /// Polls `source` (which keeps a store filled) until `stop`, handing each object to the subscribers.
    pub fn pump(&self, source: Touched<K>, stop: CancellationToken)
    where
        K: Resource,
        K::DynamicType: Default,
    {
        let feed = self.clone();
        tokio::spawn(async move {
            let mut source = source;
            loop {
                let item = tokio::select! {
                    _ = stop.cancelled() => break,
                    item = source.next() => item,
                };
                match item {
                    None => break,
                    Some(Ok(object)) => feed.publish(&object),
                    Some(Err(e)) => {
                        tracing::warn!(kind = %K::kind(&Default::default()), error = %e, "watch error, retrying")
                    }
                }
            }
        });
    }
}

/// Set once every namespace of a store has been listed.
#[derive(Clone, Debug, Default)]
pub struct Ready(Arc<AtomicBool>);

impl Ready {
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Waits until ready (polling; only used at start-up).
    pub async fn wait(&self) {
        while !self.is_ready() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Objects touched (applied or deleted), the trigger of a controller or of a watch mapping.
pub type Touched<K> = BoxStream<'static, Result<K, watcher::Error>>;

/// A store of `K` over `scope`, its readiness, and the stream of touched objects that keeps it filled (the
/// stream must be polled: see [`Feed::pump`]). `observer` sees every event first.
pub fn reflect<K>(
    client: &Client,
    scope: &Scope,
    observer: Arc<dyn Observer<K>>,
) -> (Store<K>, Ready, Touched<K>)
where
    K: Resource<Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
{
    let (reader, writer) = reflector::store::<K>();
    let ready = Ready::default();
    match scope {
        Scope::AllNamespaces => {
            let flag = ready.clone();
            let trigger =
                watcher::watcher(Api::<K>::all(client.clone()), watcher::Config::default())
                    .default_backoff()
                    .modify(slim)
                    .map(move |event| observe(observer.as_ref(), None, event))
                    .map(move |event| {
                        if matches!(event, Ok(Event::InitDone)) {
                            flag.set();
                        }
                        event
                    })
                    .reflect(writer)
                    .touched_objects()
                    .boxed();
            (reader, ready, trigger)
        }
        Scope::Namespaces(list) => {
            let shared = Arc::new(SharedWriter {
                writer: Mutex::new(writer),
                reader: reader.clone(),
                listed: AtomicUsize::new(0),
                total: list.len(),
                ready: ready.clone(),
            });
            let streams: Vec<Touched<K>> = list
                .iter()
                .map(|ns| {
                    let observer = observer.clone();
                    let namespace = ns.clone();
                    let mut relist = Relist {
                        namespace: ns.clone(),
                        shared: shared.clone(),
                        seen: None,
                        listed_once: false,
                    };
                    watcher::watcher(
                        Api::<K>::namespaced(client.clone(), ns),
                        watcher::Config::default(),
                    )
                    .default_backoff()
                    .modify(slim)
                    .map(move |event| observe(observer.as_ref(), Some(&namespace), event))
                    .flat_map(move |event| stream::iter(relist.handle(event)))
                    .boxed()
                })
                .collect();
            (reader, ready, stream::select_all(streams).boxed())
        }
    }
}

/// Drops what the reconciler never reads before an object enters a cache: `managedFields` and kubectl's
/// `last-applied-configuration` annotation (each can be as large as the spec itself).
pub fn slim<K: Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// The one writer of a store fed by several namespace watches.
struct SharedWriter<K>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    writer: Mutex<Writer<K>>,
    reader: Store<K>,
    listed: AtomicUsize,
    total: usize,
    ready: Ready,
}

/// Applies one namespace's events to the shared store: its (re-)list becomes applies, plus deletes of what the
/// list no longer has, so that it never touches the other namespaces.
struct Relist<K>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    namespace: String,
    shared: Arc<SharedWriter<K>>,
    seen: Option<HashSet<String>>,
    listed_once: bool,
}

impl<K> Relist<K>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    /// Applies `event` and returns the objects it touched.
    fn handle(&mut self, event: watcher::Result<Event<K>>) -> Vec<Result<K, watcher::Error>> {
        let mut writer = self.shared.writer.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            Err(e) => vec![Err(e)],
            Ok(Event::Init) => {
                self.seen = Some(HashSet::new());
                Vec::new()
            }
            Ok(Event::InitApply(object)) | Ok(Event::Apply(object)) => {
                if let Some(seen) = self.seen.as_mut() {
                    seen.insert(object.name_any());
                }
                writer.apply_watcher_event(&Event::Apply(object.clone()));
                vec![Ok(object)]
            }
            Ok(Event::Delete(object)) => {
                writer.apply_watcher_event(&Event::Delete(object.clone()));
                vec![Ok(object)]
            }
            Ok(Event::InitDone) => {
                let seen = self.seen.take().unwrap_or_default();
                let namespace = self.namespace.clone();
                let stale: Vec<K> = self
                    .shared
                    .reader
                    .state_filter(|o| {
                        o.meta().namespace.as_deref() == Some(namespace.as_str())
                            && !seen.contains(&o.name_any())
                    })
                    .into_iter()
                    .map(|o| (*o).clone())
                    .collect();
                for object in &stale {
                    writer.apply_watcher_event(&Event::Delete(object.clone()));
                }
                if !self.listed_once {
                    self.listed_once = true;
                    let listed = self.shared.listed.fetch_add(1, Ordering::SeqCst) + 1;
                    if listed == self.shared.total {
                        // Every namespace listed: mark the store ready the only way a Writer knows, by
                        // re-listing what it holds (under the lock, so nothing interleaves).
                        let all = self.shared.reader.state();
                        writer.apply_watcher_event(&Event::Init);
                        for object in all {
                            writer.apply_watcher_event(&Event::InitApply((*object).clone()));
                        }
                        writer.apply_watcher_event(&Event::InitDone);
                        self.shared.ready.set();
                    }
                }
                stale.into_iter().map(Ok).collect()
            }
        }
    }
}

/// Objects of `K` touched anywhere in `scope` (no store).
pub fn touched<K>(client: &Client, scope: &Scope) -> Touched<K>
where
    K: Resource<Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default,
{
    let streams: Vec<Touched<K>> = scope
        .apis::<K>(client)
        .into_iter()
        .map(|(_, api)| {
            watcher::watcher(api, watcher::Config::default())
                .default_backoff()
                .touched_objects()
                .boxed()
        })
        .collect();
    stream::select_all(streams).boxed()
}

/// Secrets touched in `scope`, metadata only: Secret data never reaches gko through a watch.
pub fn touched_secrets(client: &Client, scope: &Scope) -> Touched<PartialObjectMeta<Secret>> {
    touched::<PartialObjectMeta<Secret>>(client, scope)
}

#[cfg(test)]
mod feed_tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    #[tokio::test]
    async fn subscribers_get_what_is_published_after_they_subscribe_and_closed_ones_are_dropped() {
        let feed: Feed<ConfigMap> = Feed::default();
        let mut named = ConfigMap::default();
        named.metadata.name = Some("a".into());
        feed.publish(&named);
        let mut first = feed.subscribe();
        let second = feed.subscribe();
        drop(second);
        named.metadata.name = Some("b".into());
        feed.publish(&named);
        assert_eq!(feed.lock().len(), 1, "the dropped subscriber is forgotten");
        let got = first.next().await.and_then(Result::ok);
        assert_eq!(got.and_then(|c| c.metadata.name), Some("b".to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn cm(ns: &str, name: &str) -> ConfigMap {
        let mut c = ConfigMap::default();
        c.metadata.namespace = Some(ns.into());
        c.metadata.name = Some(name.into());
        c
    }

    fn names(store: &Store<ConfigMap>) -> Vec<String> {
        let mut n: Vec<String> = store
            .state()
            .iter()
            .map(|o| format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any()))
            .collect();
        n.sort();
        n
    }

    #[tokio::test]
    async fn relist_of_one_namespace_deletes_only_its_stale_objects() {
        let (reader, writer) = reflector::store::<ConfigMap>();
        let ready = Ready::default();
        let shared = Arc::new(SharedWriter {
            writer: Mutex::new(writer),
            reader: reader.clone(),
            listed: AtomicUsize::new(0),
            total: 2,
            ready: ready.clone(),
        });
        let relist = |ns: &str| Relist {
            namespace: ns.into(),
            shared: shared.clone(),
            seen: None,
            listed_once: false,
        };
        let (mut a, mut b) = (relist("a"), relist("b"));
        for e in [
            Event::Init,
            Event::InitApply(cm("a", "keep")),
            Event::InitApply(cm("a", "gone")),
            Event::InitDone,
        ] {
            a.handle(Ok(e));
        }
        assert!(!ready.is_ready());
        for e in [
            Event::Init,
            Event::InitApply(cm("b", "other")),
            Event::InitDone,
        ] {
            b.handle(Ok(e));
        }
        assert!(ready.is_ready(), "ready once every namespace listed");
        assert!(
            tokio::time::timeout(Duration::from_secs(1), reader.wait_until_ready())
                .await
                .is_ok(),
            "the store itself is ready (controllers wait for it)"
        );
        assert_eq!(names(&reader), vec!["a/gone", "a/keep", "b/other"]);
        // Namespace a re-lists without `gone`: only that object is deleted.
        let mut touched = Vec::new();
        for e in [
            Event::Init,
            Event::InitApply(cm("a", "keep")),
            Event::InitDone,
        ] {
            touched.extend(a.handle(Ok(e)).into_iter().flatten().map(|o| o.name_any()));
        }
        assert_eq!(touched, vec!["keep", "gone"]);
        assert_eq!(names(&reader), vec!["a/keep", "b/other"]);
    }
}
