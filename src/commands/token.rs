//! `celgate token new --tenant T`: a fresh check-API token, shown once, and the config lines that
//! store its hash (the configuration never holds the token itself).

use crate::cli::TokenNewArgs;
use crate::tenant::token;

use super::{CommandError, Streams, EXIT_OK};

/// Prints the token (first line, on its own) and where its hash goes.
pub fn new(args: &TokenNewArgs, streams: &mut Streams<'_>) -> Result<u8, CommandError> {
    let fresh = token::generate().map_err(|e| CommandError::Usage(e.to_string()))?;
    let hash = token::to_hex(&token::hash(&fresh));
    writeln!(streams.stdout, "{fresh}")?;
    writeln!(
        streams.stdout,
        "# Tenant {tenant}'s check-API token, shown only once: clients send it as\n\
         # `Authorization: Bearer <token>`. Add its hash to celgate.yaml under the tokens of\n\
         # the tenant named {tenant}:\n\
         - name: {name}\n  sha256: {hash}",
        tenant = args.tenant,
        name = args.name,
    )?;
    Ok(EXIT_OK)
}
