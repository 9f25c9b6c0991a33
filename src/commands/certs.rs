//! `celgate certs --out DIR --dns NAME...`: a CA and serving pair for a cluster Service.

use crate::cli::CertsArgs;
use crate::server::tls;

use super::{CommandError, Streams, EXIT_OK};

/// Writes the pair and prints the base64 `caBundle` for the webhook configurations.
pub fn run(args: &CertsArgs, streams: &mut Streams<'_>) -> Result<u8, CommandError> {
    let bundle = tls::generate_service_pair(&args.out, &args.dns_names)?;
    writeln!(streams.stdout, "{bundle}")?;
    writeln!(
        streams.stderr,
        "wrote {dir}/ca.crt, ca.key, tls.crt and tls.key for {names}.\n\
         Create the Secret:  kubectl -n celgate-system create secret generic celgate-tls \
         --from-file={dir}/tls.crt --from-file={dir}/tls.key --from-file={dir}/ca.crt\n\
         Put the line above (stdout) in caBundle of both webhook configurations.",
        dir = args.out.display(),
        names = args.dns_names.join(", ")
    )?;
    Ok(EXIT_OK)
}
