//! Prometheus metrics (design §5): one [`Metrics`] per server, its registry passed in, no
//! globals. Names are stable: `deploy/grafana` and alerts depend on them.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::engine::Decision;

/// Labels of `celgate_http_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Route (`/validate`, `/mutate`, `/v1/check`, `/v1/packs`, `other`).
    pub route: String,
    /// HTTP status code.
    pub code: u16,
}

/// Labels of `celgate_reviews_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReviewLabels {
    /// Route.
    pub route: String,
    /// allow, deny or patch.
    pub decision: String,
    /// Tenant the review was judged for (`""` when none).
    pub tenant: String,
}

/// Labels of `celgate_decisions_total` (one per finding).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FindingLabels {
    /// Pack name.
    pub pack: String,
    /// Rule id.
    pub rule: String,
    /// Action the finding took.
    pub action: String,
    /// Decision of the whole review.
    pub decision: String,
    /// Tenant the review was judged for (`""` when none).
    pub tenant: String,
}

/// Labels of the route latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// Route.
    pub route: String,
}

/// Labels of reload counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    /// `packs` or `certs`.
    pub kind: String,
}

/// Labels of refused security-weakening config reloads.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WeakeningLabels {
    /// `tenants`, `tokens` or `client-ca`: what the reload would have removed.
    pub reason: String,
}

/// Every metric the server exposes.
#[derive(Debug)]
pub struct Metrics {
    /// Requests by route and status code.
    pub requests: Family<RequestLabels, Counter>,
    /// Reviews and checks by route and decision.
    pub reviews: Family<ReviewLabels, Counter>,
    /// Findings by pack, rule, action and the review's decision.
    pub decisions: Family<FindingLabels, Counter>,
    /// Engine time per evaluation.
    pub evaluation_seconds: Histogram,
    /// Estimated CEL cost spent per evaluation (steps; see `docs/pack-format.md`, "Cost limits").
    pub evaluation_cost: Histogram,
    /// Whole-request time by route.
    pub request_seconds: Family<RouteLabels, Histogram>,
    /// Successful reloads by kind.
    pub reloads: Family<ReloadLabels, Counter>,
    /// Refused reloads by kind (the last good configuration kept serving).
    pub reload_failures: Family<ReloadLabels, Counter>,
    /// Config reloads refused because they would weaken security, by what they would remove.
    pub reloads_weakening: Family<WeakeningLabels, Counter>,
    /// Requests being served.
    pub in_flight: Gauge,
    /// `notAfter` of the serving certificate (Unix seconds), for expiry alerts in Prometheus.
    pub certificate_expiry: Gauge,
}

fn latency_histogram() -> Histogram {
    // 50 µs .. ~1.6 s
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

impl Metrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &mut Registry) -> Metrics {
        let metrics = Metrics {
            requests: Family::default(),
            reviews: Family::default(),
            decisions: Family::default(),
            evaluation_seconds: latency_histogram(),
            evaluation_cost: Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                1000.0, 4.0, 10,
            )),
            request_seconds: Family::new_with_constructor(latency_histogram),
            reloads: Family::default(),
            reload_failures: Family::default(),
            reloads_weakening: Family::default(),
            in_flight: Gauge::default(),
            certificate_expiry: Gauge::default(),
        };
        let r = registry.sub_registry_with_prefix("celgate");
        r.register(
            "http_requests",
            "HTTP requests by route and status code",
            metrics.requests.clone(),
        );
        r.register(
            "reviews",
            "Admission reviews and checks by route and decision",
            metrics.reviews.clone(),
        );
        r.register(
            "decisions",
            "Findings by pack, rule, action and the decision of the review",
            metrics.decisions.clone(),
        );
        r.register(
            "evaluation_duration_seconds",
            "Engine evaluation time",
            metrics.evaluation_seconds.clone(),
        );
        r.register(
            "evaluation_cost_steps",
            "Estimated CEL cost spent per evaluation, against limits.celCostPerRequest",
            metrics.evaluation_cost.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Whole request time by route",
            metrics.request_seconds.clone(),
        );
        r.register(
            "reloads",
            "Successful reloads of packs or certificates",
            metrics.reloads.clone(),
        );
        r.register(
            "reload_failures",
            "Reloads refused; the last good configuration kept serving",
            metrics.reload_failures.clone(),
        );
        r.register(
            "config_reloads_refused_weakening",
            "Config reloads refused because they would remove every tenant, every token or the client CA",
            metrics.reloads_weakening.clone(),
        );
        r.register("in_flight_requests", "Requests being served", metrics.in_flight.clone());
        r.register(
            "certificate_expiry_timestamp_seconds",
            "notAfter of the serving certificate, in Unix seconds",
            metrics.certificate_expiry.clone(),
        );
        metrics
    }

    /// Counts one decision and its findings.
    pub fn record_decision(&self, route: &str, decision: &Decision) {
        let verdict = decision.decision.as_str().to_owned();
        let tenant = decision.tenant.clone().unwrap_or_default();
        self.reviews
            .get_or_create(&ReviewLabels {
                route: route.to_owned(),
                decision: verdict.clone(),
                tenant: tenant.clone(),
            })
            .inc();
        for v in &decision.violations {
            self.decisions
                .get_or_create(&FindingLabels {
                    pack: v.pack.to_string(),
                    rule: v.rule.to_string(),
                    action: v.action.as_str().to_owned(),
                    decision: verdict.clone(),
                    tenant: tenant.clone(),
                })
                .inc();
        }
    }

    /// Counts a reload attempt of `kind`.
    pub fn record_reload(&self, kind: &str, ok: bool) {
        let labels = ReloadLabels { kind: kind.to_owned() };
        if ok {
            self.reloads.get_or_create(&labels).inc();
        } else {
            self.reload_failures.get_or_create(&labels).inc();
        }
    }
}

/// Renders `registry` in the OpenMetrics text format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, registry).is_err() {
        out.clear();
    }
    out
}
