//! Delivery off the request path: a dispatcher task routes and groups events and renders each
//! message once; one worker task per webhook posts its backlog in order, paced by a token bucket,
//! retrying 5xx and network errors with backoff and jitter and honouring `Retry-After` on 429.
//! Logs name the webhook, never its URL.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};

use super::blocks::{render, RenderOptions};
use super::config::SlackConfig;
use super::event::Event;
use super::group::{Grouper, Offer};
use super::http::HttpClient;
use super::metrics::{DropReason, NotifyMetrics};
use super::rate_limit::{backoff, jitter_unit, TokenBucket};
use super::resolve::{ResolvedSlackConfig, ResolvedWebhook};
use super::route::Router;

/// A rendered message for one webhook.
#[derive(Debug, Clone)]
struct Message {
    body: Bytes,
    /// What it is about, for logs (`deny Deployment shop/web`).
    about: Arc<str>,
}

/// The shutdown deadline, once shutdown began.
pub(crate) type Deadline = watch::Receiver<Option<Instant>>;

struct WorkerHandle {
    name: String,
    tx: mpsc::Sender<Message>,
}

/// Spawns the dispatcher and one worker per webhook; returns their handles.
pub(crate) fn spawn(
    resolved: &ResolvedSlackConfig,
    events: mpsc::Receiver<Event>,
    metrics: NotifyMetrics,
    deadline: &Deadline,
) -> Vec<JoinHandle<()>> {
    let config = resolved.config().clone();
    let client = Arc::new(HttpClient::new(
        Duration::from_millis(config.timeouts.connect_ms),
        Duration::from_millis(config.timeouts.request_ms),
    ));
    let mut tasks = Vec::new();
    let mut workers = Vec::new();
    for hook in resolved.webhooks() {
        let (tx, rx) = mpsc::channel(config.webhook_backlog);
        workers.push(WorkerHandle {
            name: hook.name.clone(),
            tx,
        });
        let worker = Worker {
            hook: hook.clone(),
            client: Arc::clone(&client),
            config: config.clone(),
            metrics: metrics.clone(),
            deadline: deadline.clone(),
        };
        tasks.push(tokio::spawn(worker.run(rx)));
    }
    let dispatcher = Dispatcher {
        router: resolved.router(),
        grouper: Grouper::new(config.group_window()),
        config,
        workers,
        metrics,
    };
    tasks.push(tokio::spawn(dispatcher.run(events, deadline.clone())));
    tasks
}

struct Dispatcher {
    router: Arc<Router>,
    grouper: Grouper,
    config: SlackConfig,
    workers: Vec<WorkerHandle>,
    metrics: NotifyMetrics,
}

impl Dispatcher {
    async fn run(mut self, mut events: mpsc::Receiver<Event>, mut deadline: Deadline) {
        loop {
            let next_close = self.grouper.next_close();
            tokio::select! {
                biased;
                changed = deadline.changed() => {
                    if changed.is_err() || deadline.borrow().is_some() {
                        break;
                    }
                }
                event = events.recv() => match event {
                    Some(event) => self.handle(&event),
                    None => break,
                },
                () = sleep_or_never(next_close) => self.close_due(),
            }
        }
        events.close();
        while let Ok(event) = events.try_recv() {
            self.handle(&event);
        }
        for summary in self.grouper.close_all() {
            self.post(&summary.event, Some(summary.count));
        }
        // Dropping the workers' senders lets them finish their backlogs and stop.
    }

    fn close_due(&mut self) {
        for summary in self.grouper.close_due(Instant::now()) {
            self.post(&summary.event, Some(summary.count));
        }
    }

    fn handle(&mut self, event: &Event) {
        self.close_due();
        if self.router.targets(event).is_empty() {
            return;
        }
        match self.grouper.offer(event, Instant::now()) {
            Offer::Grouped => {
                self.metrics.grouped.inc();
            }
            Offer::Post => self.post(event, None),
        }
    }

    fn post(&self, event: &Event, repeat: Option<u64>) {
        let targets = self.router.targets(event);
        if targets.is_empty() {
            return;
        }
        let options = RenderOptions {
            links: &self.config.links,
            max_violations: self.config.max_violations,
            group_window: self.config.group_window(),
        };
        let body = Bytes::from(render(event, repeat, &options).to_string());
        let message = Message {
            body,
            about: about(event).into(),
        };
        for index in targets {
            let Some(worker) = self.workers.get(index) else {
                continue;
            };
            match worker.tx.try_send(message.clone()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(m)) => {
                    tracing::warn!(webhook = %worker.name, about = %m.about, "Slack backlog full; alert dropped");
                    self.metrics.drop(&worker.name, DropReason::BacklogFull);
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.metrics.drop(&worker.name, DropReason::Shutdown);
                }
            }
        }
    }
}

async fn sleep_or_never(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn about(event: &Event) -> String {
    match event {
        Event::Decision(d) => format!("{} {}", d.verdict.as_str(), d.object()),
        Event::System(s) => s.class().about().to_owned(),
    }
}

struct Worker {
    hook: ResolvedWebhook,
    client: Arc<HttpClient>,
    config: SlackConfig,
    metrics: NotifyMetrics,
    deadline: Deadline,
}

impl Worker {
    async fn run(mut self, mut backlog: mpsc::Receiver<Message>) {
        let mut bucket = TokenBucket::new(
            Duration::from_millis(self.config.rate_limit.interval_ms),
            self.config.rate_limit.burst,
            Instant::now(),
        );
        while let Some(message) = backlog.recv().await {
            self.deliver(&message, &mut bucket).await;
        }
    }

    async fn deliver(&mut self, message: &Message, bucket: &mut TokenBucket) {
        let name = self.hook.name.clone();
        let retry = self.config.retry;
        let mut attempt = 1_u32;
        loop {
            if !self.wait_until(bucket.ready_at(Instant::now())).await {
                self.metrics.drop(&name, DropReason::Shutdown);
                return;
            }
            let result = self.client.post(&self.hook.url, message.body.clone()).await;
            let now = Instant::now();
            bucket.take(now);
            let delay = backoff(
                attempt,
                Duration::from_millis(retry.initial_backoff_ms),
                Duration::from_millis(retry.max_backoff_ms),
                jitter_unit(),
            );
            let (wait, reason) = match result {
                Ok(reply) if reply.status.is_success() => {
                    self.metrics.sent(&name);
                    return;
                }
                Ok(reply) if reply.status == http::StatusCode::TOO_MANY_REQUESTS => {
                    let wait = reply
                        .retry_after
                        .unwrap_or(delay)
                        .min(Duration::from_millis(retry.max_backoff_ms));
                    bucket.pause_until(now + wait, now);
                    tracing::info!(webhook = %name, retry_after_s = wait.as_secs_f64(), "Slack rate limited this webhook");
                    (wait, "rate_limited")
                }
                Ok(reply) if reply.status.is_server_error() => {
                    tracing::warn!(webhook = %name, status = reply.status.as_u16(), attempt, body = %reply.body.trim(), "Slack answered with a server error");
                    (delay, "server_error")
                }
                Ok(reply) => {
                    tracing::error!(webhook = %name, status = reply.status.as_u16(), error = %reply.body.trim(), about = %message.about, "Slack refused the message; not retried");
                    self.metrics.drop(&name, DropReason::Rejected);
                    return;
                }
                Err(error) => {
                    tracing::warn!(webhook = %name, attempt, error = %error, cause = ?std::error::Error::source(&error).map(ToString::to_string), "posting to Slack failed");
                    (delay, "network")
                }
            };
            if attempt >= retry.max_attempts {
                tracing::error!(webhook = %name, attempts = attempt, about = %message.about, "gave up posting to Slack");
                self.metrics.drop(&name, DropReason::GaveUp);
                return;
            }
            self.metrics.retry(&name, reason);
            attempt += 1;
            if !self.wait_until(now + wait).await {
                self.metrics.drop(&name, DropReason::Shutdown);
                return;
            }
        }
    }

    /// Sleeps until `at`; false when shutdown's deadline comes first.
    async fn wait_until(&mut self, at: Instant) -> bool {
        loop {
            let deadline = *self.deadline.borrow_and_update();
            if deadline.is_some_and(|d| at > d) {
                return false;
            }
            tokio::select! {
                () = sleep_until(at) => return true,
                changed = self.deadline.changed() => {
                    if changed.is_err() {
                        sleep_until(at).await;
                        return true;
                    }
                }
            }
        }
    }
}
