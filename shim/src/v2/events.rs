//! Events back to containerd: `containerd.services.events.ttrpc.v1.Events/
//! Forward` on containerd's ttrpc socket (TTRPC_ADDRESS), each an Envelope
//! {timestamp, namespace, topic, Any}. containerd's CRI plugin needs
//! /tasks/exit to see a container stop; the others keep `ctr events` and
//! event subscribers informed.
//!
//! One thread sends, so a slow or restarting containerd never blocks the
//! Task service or the reaper; an event that cannot be sent is retried a
//! few times with a reconnect (containerd may be restarting), then dropped.

use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use containerd_shim_protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskOOM, TaskPaused,
    TaskResumed, TaskStart,
};
use containerd_shim_protos::protobuf::{self, Message, MessageField};
use containerd_shim_protos::shim::event::Envelope;
use containerd_shim_protos::shim::events::ForwardRequest;
use containerd_shim_protos::{ttrpc, EventsClient};
use protobuf::well_known_types::any::Any;
use protobuf::well_known_types::timestamp::Timestamp;

const ATTEMPTS: u32 = 5;
const FORWARD_TIMEOUT_NS: i64 = 5_000_000_000;

/// An event message: its topic and its protobuf type name (the Any's
/// type_url, as containerd's typeurl registry names it).
pub trait Event: Message {
    const TOPIC: &'static str;
    const TYPE: &'static str;
}

macro_rules! events {
    ($($t:ty => $topic:literal, $name:literal;)*) => {
        $(impl Event for $t {
            const TOPIC: &'static str = $topic;
            const TYPE: &'static str = $name;
        })*
    };
}

events! {
    TaskCreate => "/tasks/create", "containerd.events.TaskCreate";
    TaskStart => "/tasks/start", "containerd.events.TaskStart";
    TaskExit => "/tasks/exit", "containerd.events.TaskExit";
    TaskDelete => "/tasks/delete", "containerd.events.TaskDelete";
    TaskExecAdded => "/tasks/exec-added", "containerd.events.TaskExecAdded";
    TaskExecStarted => "/tasks/exec-started", "containerd.events.TaskExecStarted";
    TaskPaused => "/tasks/paused", "containerd.events.TaskPaused";
    TaskResumed => "/tasks/resumed", "containerd.events.TaskResumed";
    TaskOOM => "/tasks/oom", "containerd.events.TaskOOM";
}

pub fn timestamp(t: SystemTime) -> Timestamp {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let mut ts = Timestamp::new();
    ts.seconds = d.as_secs() as i64;
    ts.nanos = d.subsec_nanos() as i32;
    ts
}

/// Builds the envelope for one event.
pub fn envelope<E: Event>(namespace: &str, e: &E, at: SystemTime) -> Envelope {
    let mut any = Any::new();
    any.type_url = E::TYPE.to_string();
    any.value = e.write_to_bytes().expect("event encode");
    let mut env = Envelope::new();
    env.timestamp = MessageField::some(timestamp(at));
    env.namespace = namespace.to_string();
    env.topic = E::TOPIC.to_string();
    env.event = MessageField::some(any);
    env
}

/// `unix://` plus the path, unless the address already has a scheme.
pub fn ttrpc_url(address: &str) -> String {
    if address.contains("://") {
        address.to_string()
    } else {
        format!("unix://{address}")
    }
}

pub struct Publisher {
    namespace: String,
    tx: Mutex<Option<mpsc::Sender<Envelope>>>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl Clone for Publisher {
    fn clone(&self) -> Self {
        Publisher {
            namespace: self.namespace.clone(),
            tx: Mutex::new(self.tx.lock().unwrap_or_else(|e| e.into_inner()).clone()),
        }
    }
}

impl Publisher {
    /// Starts the sender thread; an empty address publishes nothing.
    pub fn start(address: &str, namespace: &str) -> std::io::Result<Publisher> {
        if address.is_empty() {
            return Ok(Publisher {
                namespace: namespace.to_string(),
                tx: Mutex::new(None),
            });
        }
        let (tx, rx) = mpsc::channel::<Envelope>();
        let url = ttrpc_url(address);
        std::thread::Builder::new()
            .name("publisher".into())
            .stack_size(128 * 1024)
            .spawn(move || send_loop(&url, rx))?;
        Ok(Publisher {
            namespace: namespace.to_string(),
            tx: Mutex::new(Some(tx)),
        })
    }

    pub fn publish<E: Event>(&self, e: &E) {
        let env = envelope(&self.namespace, e, SystemTime::now());
        if let Some(tx) = self.tx.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            let _ = tx.send(env);
        }
    }
}

fn send_loop(url: &str, rx: mpsc::Receiver<Envelope>) {
    let mut client: Option<EventsClient> = None;
    for env in rx {
        let mut req = ForwardRequest::new();
        req.envelope = MessageField::some(env);
        for attempt in 0..ATTEMPTS {
            if client.is_none() {
                client = ttrpc::Client::connect(url).ok().map(EventsClient::new);
            }
            let sent = client.as_ref().is_some_and(|c| {
                c.forward(ttrpc::context::with_timeout(FORWARD_TIMEOUT_NS), &req)
                    .is_ok()
            });
            if sent {
                break;
            }
            client = None;
            crate::v2::log(&format!(
                "publish {}: attempt {} failed",
                req.envelope.topic,
                attempt + 1
            ));
            std::thread::sleep(Duration::from_millis(200 << attempt));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_envelope_names_its_topic_and_type() {
        let mut e = TaskExit::new();
        e.container_id = "c1".into();
        e.exit_status = 137;
        let env = envelope("ns", &e, SystemTime::UNIX_EPOCH + Duration::from_secs(5));
        assert_eq!(env.topic, "/tasks/exit");
        assert_eq!(env.namespace, "ns");
        assert_eq!(env.timestamp.seconds, 5);
        assert_eq!(env.event.type_url, "containerd.events.TaskExit");
        let back = TaskExit::parse_from_bytes(&env.event.value).unwrap();
        assert_eq!(back.exit_status, 137);
    }

    #[test]
    fn addresses_get_the_unix_scheme() {
        assert_eq!(ttrpc_url("/run/c.sock"), "unix:///run/c.sock");
        assert_eq!(ttrpc_url("unix:///x"), "unix:///x");
    }
}
