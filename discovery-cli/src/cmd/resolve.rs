//! `discovery resolve`: print the ready pods once.

use crate::args::Target;
use crate::output;

pub(crate) async fn run(target: Target) -> Result<(), discovery::Error> {
    let (discovery, name) = super::client(&target)?;
    let peers = discovery.resolve(name).await?;
    if target.json {
        let array: Vec<_> = peers.iter().map(output::peer_json).collect();
        println!("{}", serde_json::Value::Array(array));
    } else if peers.is_empty() {
        println!("no ready pod");
    } else {
        println!("{}", output::table(&peers));
    }
    Ok(())
}
