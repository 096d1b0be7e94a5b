//! The one tokio runtime of the addon, for network I/O: the scripts' HTTP requests (each a task:
//! TLS, parsing and decompression run here, off the scripts' threads and their CPU budgets) and
//! the egress proxy. Scripts never run on its threads.

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
