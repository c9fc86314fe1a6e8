//! The wasmtime engine, set up as `spin up` sets up its own: compiled components are kept in
//! Wasmtime's compilation cache, so only the first start compiles them, and instances come
//! from the pooling allocator, so a request's instance costs no `mmap`/`munmap`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use wasmtime::{Cache, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Where compiled components are cached, as `spin up`'s `--cache` / `--disable-cache` say.
#[derive(Clone, Debug, Default)]
pub enum CompilationCache {
    /// Wasmtime's default configuration: `~/.config/wasmtime/config.toml` when it exists,
    /// otherwise a cache in the user's cache directory (`~/.cache/wasmtime` on Linux).
    #[default]
    Default,
    /// A Wasmtime cache configuration file.
    ConfigFile(PathBuf),
    /// Compile every component at every start.
    Disabled,
}

/// How many instances may be alive at once, across all apps: the concurrency limit of the
/// pool, as Spin's default.
const MAX_INSTANCES: u32 = 1000;

const MIB: usize = 1 << 20;

/// An engine for components with `cache`, on the pooling allocator where this machine's
/// address space allows its reservation, else allocating each instance on demand.
pub fn new(cache: &CompilationCache) -> Result<Engine> {
    let mut config = Config::new();
    match cache {
        CompilationCache::Default => {
            let cache = Cache::from_file(None).map_err(anyhow::Error::from);
            config.cache(Some(
                cache.context("setting up Wasmtime's compilation cache")?,
            ));
        }
        CompilationCache::ConfigFile(path) => {
            let cache = Cache::from_file(Some(path)).map_err(anyhow::Error::from);
            config.cache(Some(cache.with_context(|| {
                format!("reading the cache configuration {}", path.display())
            })?));
        }
        CompilationCache::Disabled => {}
    }
    let mut pooled = config.clone();
    pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pool()));
    match Engine::new(&pooled) {
        Ok(engine) => Ok(engine),
        Err(error) => {
            // Some machines (39-bit address spaces, tight `ulimit -v`) cannot reserve the pool.
            eprintln!(
                "warning: the pooling allocator is not available ({error}); instances are allocated on demand"
            );
            Engine::new(&config).map_err(anyhow::Error::from)
        }
    }
}

/// The pool's limits: enough for `MAX_INSTANCES` instances of components like Spin's, each
/// of a few core modules with one memory and a table or two.
fn pool() -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(MAX_INSTANCES)
        .total_core_instances(4 * MAX_INSTANCES)
        .total_memories(MAX_INSTANCES)
        .total_tables(2 * MAX_INSTANCES)
        .total_stacks(MAX_INSTANCES)
        .max_component_instance_size(10 * MIB)
        .max_core_instance_size(10 * MIB)
        .max_core_instances_per_component(200)
        .max_memories_per_component(32)
        .max_tables_per_component(64)
        .max_memories_per_module(2)
        .max_tables_per_module(2)
        .table_elements(100_000)
        .max_memory_size(4 << 30)
        // Keeping a little of each freed slot mapped makes the next instance's start cheap.
        .linear_memory_keep_resident(2 * MIB)
        .table_keep_resident(MIB / 2);
    pool
}
