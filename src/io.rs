//! The one tokio runtime of the addon, for network I/O: the sockets of the scripts' HTTP requests
//! and the egress proxy. Its threads only wait on sockets and timers; scripts never run on them.

use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

pub fn runtime() -> &'static Runtime {
  RUNTIME.get_or_init(|| {
    Builder::new_multi_thread()
      .worker_threads(2)
      .thread_name("backend-scripts-io")
      .enable_all()
      .build()
      .expect("cannot start the I/O runtime")
  })
}
