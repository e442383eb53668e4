//! What the runner takes from each image the manifests name: only where its binaries are
//! and which user it runs as. Entry points are never run (there is none here to run), so
//! a container of an image with an entry point must give its own `command`.

use std::path::PathBuf;

use super::PodError;

/// The image facts the runner stands in for.
#[derive(Debug, Clone)]
pub(crate) struct Image {
    /// A host directory mounted at `/usr/local/bin`, for images whose binaries are ours.
    pub(crate) binaries: Option<PathBuf>,
    /// The image's `USER`, as `uid:gid`; `None` is root.
    pub(crate) user: Option<String>,
    /// Whether the image's `ENTRYPOINT` is empty, so that `args` alone is the command line.
    pub(crate) empty_entrypoint: bool,
}

/// The image's `PATH`, the same in the Debian-based images the manifests use.
pub(crate) const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The stand-in for `image`.
///
/// - `redis:7.2`: `redis-server` and `redis-cli`; Debian's `redis-server` package puts them
///   on the same `PATH`.
/// - `mariadb:10.11`: `mariadbd`, `mariadb`, `mariadb-dump`, `mariadb-admin`; Debian's
///   `mariadb-server` 10.11 puts them on the same `PATH`.
/// - `discovery-examples:latest` (`examples/Dockerfile`): the example binaries in
///   `/usr/local/bin`, `USER 65534`, `ENTRYPOINT []`.
///
/// # Errors
///
/// [`PodError::Image`] for any other image.
pub(crate) fn image(name: &str, examples: &std::path::Path) -> Result<Image, PodError> {
    match name {
        "redis:7.2" | "mariadb:10.11" => Ok(Image {
            binaries: None,
            user: None,
            empty_entrypoint: false,
        }),
        "discovery-examples:latest" => Ok(Image {
            binaries: Some(examples.to_path_buf()),
            user: Some("65534:65534".into()),
            empty_entrypoint: true,
        }),
        other => Err(PodError::Image(other.to_owned())),
    }
}
