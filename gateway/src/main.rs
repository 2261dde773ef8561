use clap::Parser as _;

/// jemalloc instead of the system allocator: with its background thread (started by `serve`),
/// memory freed when a flood's pending logins expire goes back to the system within seconds
/// (glibc's malloc kept ~130 MB of a 147 MB peak for good), and small allocations on the
/// request path are cheaper.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    vneid_gateway::cli::main(vneid_gateway::cli::Cli::parse())
}
