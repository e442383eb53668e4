//! `discovery resolve`: print the ready pods once.

use crate::args::Target;
use crate::exit::Failure;
use crate::output;

/// Exits 3 when there is no ready pod: a script asking for pods got none.
pub(crate) async fn run(target: Target) -> Result<(), Failure> {
    let (discovery, name) = super::client(&target)?;
    let peers = discovery.resolve(name).await?;
    if target.json {
        let array: Vec<_> = peers.iter().map(output::peer_json).collect();
        println!("{}", serde_json::Value::Array(array));
    } else if !peers.is_empty() {
        println!("{}", output::table(&peers));
    }
    if peers.is_empty() {
        // CoreDNS answers NXDOMAIN both for a Service without ready pods and for one
        // that does not exist: DNS cannot tell them apart.
        return Err(Failure::NothingToUse(format!(
            "no ready pod, or no such Service: {} is NXDOMAIN",
            discovery
                .service(&target.service)
                .map_or_else(|_| target.service.clone(), |s| s.domain_name())
        )));
    }
    Ok(())
}
