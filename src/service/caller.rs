//! [`Caller`]: on whose behalf a door asks for a judgement, and how that resolves into the
//! tenant and environment whose modes, params and exceptions apply ([`Scope`]).

use chrono::{DateTime, Utc};

use crate::engine::Input;
use crate::tenant::{Scope, Tenancy, Tenant};

/// Which tenant's configuration applies to a judgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantChoice {
    /// The tenant that owns the object's namespace (admission; `celgate check` without
    /// `--tenant`). A Namespace object is placed by its own name and labels.
    OwnerOfNamespace,
    /// A tenant the caller named: a check-API token's, or `--tenant`. A name the configuration
    /// does not know is shown on the decision but brings no configuration.
    Named(String),
    /// No tenant (a check-API call without one, with no tenants configured).
    Unnamed,
}

/// Who asks for a judgement: the tenant and environment it acts for, and the id its answer,
/// audit record and alert carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Whose tenant configuration applies.
    pub tenant: TenantChoice,
    /// The environment the caller named; else the one the namespace maps to, else the
    /// configuration's default.
    pub environment: Option<String>,
    /// The request's id (an AdmissionReview's `uid`, a check-API `X-Request-Id`), if it has one.
    pub request_id: Option<String>,
}

impl Default for Caller {
    /// A caller judged by the object's namespace, naming no environment and no request id
    /// (`celgate check` without `--tenant` or `--environment`).
    fn default() -> Caller {
        Caller {
            tenant: TenantChoice::OwnerOfNamespace,
            environment: None,
            request_id: None,
        }
    }
}

impl Caller {
    /// The API server sending an AdmissionReview with `uid`: judged for the namespace's tenant.
    pub fn admission(uid: impl Into<String>) -> Caller {
        Caller {
            tenant: TenantChoice::OwnerOfNamespace,
            environment: None,
            request_id: Some(uid.into()),
        }
    }

    /// The scope `self` resolves to in `tenancy` for `input`, at `now`: the tenant it chose,
    /// and the environment it named or else the one the input's namespace maps to.
    pub(crate) fn scope<'a>(&self, tenancy: &'a Tenancy, input: &Input, now: DateTime<Utc>) -> Scope<'a> {
        let tenant: Option<&'a Tenant> = match &self.tenant {
            TenantChoice::OwnerOfNamespace => Scope::owner_of_namespace(tenancy, input),
            TenantChoice::Named(name) => tenancy.tenant(name).ok(),
            TenantChoice::Unnamed => None,
        };
        let environment = match &self.environment {
            Some(name) => tenancy.environment(name).ok(),
            None => tenancy.environment_of_namespace(tenant, Scope::placement(input)),
        };
        Scope::new(tenancy, tenant, environment, now)
    }

    /// The tenant name to show on an input judged without a tenancy configuration.
    pub(crate) fn named_tenant(&self) -> Option<&str> {
        match &self.tenant {
            TenantChoice::Named(name) => Some(name),
            TenantChoice::OwnerOfNamespace | TenantChoice::Unnamed => None,
        }
    }
}
