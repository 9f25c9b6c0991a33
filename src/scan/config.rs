//! The `scan:` section of `celgate.yaml`: `celgate serve` scans the cluster periodically, off the
//! admission path, on one replica at a time (a `Lease`), and applies the reports.
//!
//! ```yaml
//! scan:
//!   intervalSeconds: 3600        # required: seconds between the starts of two scans (>= 1)
//!   kinds: [Deployment, Pod]     # optional: only these kinds (default: every kind the packs match)
//!   format: policyreport         # policyreport (default) or openreports: the reports written
//!   pageSize: 500                # optional: objects per list request
//!   lease:                       # optional
//!     name: celgate-scan         # default
//!     namespace: celgate-system  # default: $POD_NAMESPACE, else the service account's namespace
//!     durationSeconds: 7200      # default: twice the interval (at least 60)
//! ```

use serde::Deserialize;

use super::targets::KindWant;

/// Shortest interval accepted (a scan lists the whole cluster).
pub const MIN_INTERVAL_SECONDS: u64 = 1;

/// `scan.lease`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LeaseConfig {
    /// Lease name (default `celgate-scan`).
    pub name: Option<String>,
    /// Lease namespace (default: `$POD_NAMESPACE`, else the service account's namespace, else
    /// `celgate-system`).
    pub namespace: Option<String>,
    /// How long a holder keeps the lease without renewing it (default: twice the interval, at least 60).
    pub duration_seconds: Option<u32>,
}

/// `scan:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScanConfig {
    /// Seconds between the starts of two scans.
    pub interval_seconds: u64,
    /// Only these kinds (`Kind`, `version/Kind`, `group/version/Kind`).
    #[serde(default)]
    pub kinds: Vec<String>,
    /// The reports written.
    #[serde(default)]
    pub format: crate::report::policy_report::ReportFlavor,
    /// Objects per list request.
    #[serde(default)]
    pub page_size: Option<u32>,
    /// Where the lease is.
    #[serde(default)]
    pub lease: LeaseConfig,
}

/// Why a `scan:` section cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanConfigError {
    /// `intervalSeconds` below the minimum.
    #[error("scan.intervalSeconds: {0} is below the minimum of {MIN_INTERVAL_SECONDS} seconds")]
    Interval(u64),
    /// `pageSize: 0`.
    #[error("scan.pageSize: must be at least 1")]
    PageSize,
    /// A kind that does not parse.
    #[error("scan.kinds[{index}]: '{kind}' is not Kind, version/Kind or group/version/Kind")]
    Kind {
        /// Index in the list.
        index: usize,
        /// As written.
        kind: String,
    },
    /// `lease.durationSeconds: 0`, or an empty name or namespace.
    #[error("scan.lease.{0}: must not be empty or zero")]
    Lease(&'static str),
}

impl ScanConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), ScanConfigError> {
        if self.interval_seconds < MIN_INTERVAL_SECONDS {
            return Err(ScanConfigError::Interval(self.interval_seconds));
        }
        if self.page_size == Some(0) {
            return Err(ScanConfigError::PageSize);
        }
        if let Some((index, kind)) = self
            .kinds
            .iter()
            .enumerate()
            .find(|(_, k)| KindWant::parse(k).is_none())
        {
            return Err(ScanConfigError::Kind {
                index,
                kind: kind.clone(),
            });
        }
        for (field, empty) in [
            ("name", self.lease.name.as_deref() == Some("")),
            ("namespace", self.lease.namespace.as_deref() == Some("")),
            ("durationSeconds", self.lease.duration_seconds == Some(0)),
        ] {
            if empty {
                return Err(ScanConfigError::Lease(field));
            }
        }
        Ok(())
    }

    /// The lease duration in force.
    pub fn lease_duration_seconds(&self) -> i32 {
        let default = self.interval_seconds.saturating_mul(2).max(60);
        let seconds = self.lease.duration_seconds.map_or(default, u64::from);
        i32::try_from(seconds).unwrap_or(i32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ScanConfig, String> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let config: ScanConfig = serde_json::from_value(value).map_err(|e| e.to_string())?;
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }

    #[test]
    fn a_full_section_parses() {
        let config = parse(
            r#"{"intervalSeconds": 600, "kinds": ["apps/v1/Deployment"], "format": "openreports",
                "pageSize": 100, "lease": {"name": "l", "namespace": "n", "durationSeconds": 90}}"#,
        )
        .expect("valid");
        assert_eq!(config.format, crate::report::policy_report::ReportFlavor::OpenReports);
        assert_eq!(config.lease_duration_seconds(), 90);
        let minimal = parse(r#"{"intervalSeconds": 600}"#).expect("valid");
        assert_eq!(minimal.format, crate::report::policy_report::ReportFlavor::PolicyReport);
        assert_eq!(minimal.lease_duration_seconds(), 1200);
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            parse(r#"{"intervalSeconds": 0}"#).unwrap_err(),
            "scan.intervalSeconds: 0 is below the minimum of 1 seconds"
        );
        assert_eq!(
            parse(r#"{"intervalSeconds": 60, "kinds": ["Pod", "a//b"]}"#).unwrap_err(),
            "scan.kinds[1]: 'a//b' is not Kind, version/Kind or group/version/Kind"
        );
        assert!(parse(r#"{"intervalSeconds": 60, "format": "yaml"}"#)
            .unwrap_err()
            .contains("unknown variant"));
        assert!(parse(r#"{"intervalSeconds": 60, "every": 1}"#)
            .unwrap_err()
            .contains("unknown field"));
        assert_eq!(
            parse(r#"{"intervalSeconds": 60, "lease": {"durationSeconds": 0}}"#).unwrap_err(),
            "scan.lease.durationSeconds: must not be empty or zero"
        );
    }
}
