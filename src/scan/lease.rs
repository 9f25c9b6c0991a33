//! One replica scans at a time: a coordination.k8s.io/v1 `Lease`, taken when absent or expired,
//! renewed by its holder before each scan, and otherwise left alone. Writes carry the
//! `resourceVersion` read, so two replicas racing for an expired lease cannot both win (the
//! loser gets a 409 Conflict and waits for the next interval).

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::Client;

use super::ScanError;

/// Where the lease lives and who asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSettings {
    /// Namespace of the lease (the pod's own).
    pub namespace: String,
    /// Name of the lease.
    pub name: String,
    /// This replica (the pod name, else the hostname).
    pub holder: String,
    /// How long a holder keeps the lease without renewing it.
    pub duration_seconds: i32,
}

/// What to do with the lease as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseAction {
    /// There is none: create it.
    Create,
    /// We hold it: renew it.
    Renew,
    /// Another holder let it expire: take it over.
    TakeOver,
    /// Another holder has it.
    Held {
        /// Its holder.
        holder: String,
    },
}

/// Decides what `me` does with `spec` (`None`: no lease) at `now`.
pub fn decide(spec: Option<&LeaseSpec>, me: &str, now: Timestamp) -> LeaseAction {
    let Some(spec) = spec else {
        return LeaseAction::Create;
    };
    let holder = spec.holder_identity.clone().unwrap_or_default();
    if holder == me {
        return LeaseAction::Renew;
    }
    let renewed = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(|t| t.0.as_second());
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(0));
    match renewed {
        Some(at) if !holder.is_empty() && at + duration > now.as_second() => LeaseAction::Held { holder },
        _ => LeaseAction::TakeOver,
    }
}

/// Takes or renews the lease; `Ok(None)` when this replica holds it now, `Ok(Some(holder))`
/// when another replica does (or won a race for it).
pub async fn acquire(client: &Client, settings: &LeaseSettings) -> Result<Option<String>, ScanError> {
    let api: Api<Lease> = Api::namespaced(client.clone(), &settings.namespace);
    let what = |verb: &str| format!("{verb} lease {}/{}", settings.namespace, settings.name);
    let existing = api
        .get_opt(&settings.name)
        .await
        .map_err(|e| ScanError::Api(what("get"), e))?;
    let now = Timestamp::now();
    let action = decide(existing.as_ref().and_then(|l| l.spec.as_ref()), &settings.holder, now);
    let mut spec = existing.as_ref().and_then(|l| l.spec.clone()).unwrap_or_default();
    spec.holder_identity = Some(settings.holder.clone());
    spec.lease_duration_seconds = Some(settings.duration_seconds);
    spec.renew_time = Some(MicroTime(now));
    let result = match (&action, existing) {
        (LeaseAction::Held { holder }, _) => return Ok(Some(holder.clone())),
        (LeaseAction::Create, _) | (_, None) => {
            spec.acquire_time = Some(MicroTime(now));
            spec.lease_transitions = Some(0);
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(settings.name.clone()),
                    namespace: Some(settings.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(spec),
            };
            api.create(&PostParams::default(), &lease).await.map(|_| ())
        }
        (action, Some(mut lease)) => {
            if *action == LeaseAction::TakeOver {
                spec.acquire_time = Some(MicroTime(now));
                spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            }
            lease.spec = Some(spec);
            api.replace(&settings.name, &PostParams::default(), &lease)
                .await
                .map(|_| ())
        }
    };
    match result {
        Ok(()) => Ok(None),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(Some("another replica".to_owned())),
        Err(e) => Err(ScanError::Api(what("write"), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: &str, renewed: i64, duration: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(holder.into()),
            renew_time: Some(MicroTime(Timestamp::from_second(renewed).expect("a time"))),
            lease_duration_seconds: Some(duration),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn decisions() {
        let now = Timestamp::from_second(1_000).expect("a time");
        assert_eq!(decide(None, "a", now), LeaseAction::Create);
        assert_eq!(decide(Some(&spec("a", 0, 10)), "a", now), LeaseAction::Renew);
        assert_eq!(
            decide(Some(&spec("b", 995, 10)), "a", now),
            LeaseAction::Held { holder: "b".into() }
        );
        assert_eq!(decide(Some(&spec("b", 900, 10)), "a", now), LeaseAction::TakeOver);
        assert_eq!(decide(Some(&spec("", 995, 10)), "a", now), LeaseAction::TakeOver);
    }
}
