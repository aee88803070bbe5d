//! One configured plugin: its compiled component, pre-instantiated, and the instance
//! that serves its calls. An instance is kept across batches (a language runtime
//! starts once) and replaced by a fresh one after any failure, whose state is then
//! unknown.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::Store;
use wasmtime::component::Func;

use super::WasmProcessor;
use super::abi::{Answer, RecordIn, RecordOut};
use super::bindings::{Transformer, TransformerPre};
use super::engine::{LoadError, Loaded, Runtime, TICK};
use super::host::HostState;
use super::log_stream::LogTags;

/// Why one call did not return an answer: a trap (the memory cap included), the
/// deadline, or `init` failing on a fresh instance.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct CallError(pub String);

struct Live {
    store: Store<HostState>,
    /// `transform`, called through the borrowing types of `abi.rs` (the generated
    /// bindings serve `init`).
    transform: Func,
}

pub struct Plugin {
    pub config: WasmProcessor,
    tags: LogTags,
    pre: TransformerPre<HostState>,
    live: Option<Live>,
    /// Whether the log was told of records answered `ok` with no data (once).
    told_emptied: bool,
}

impl Plugin {
    /// Loads the plugin (from the compile cache when it can) and checks that it
    /// matches the world. `init` runs on the first instance, at once, so bad params
    /// are found at start rather than with the first batch.
    pub fn load(
        config: &WasmProcessor,
        stream: &str,
        cache_dir: Option<&std::path::Path>,
    ) -> Result<(Self, Loaded), LoadError> {
        let runtime = Runtime::get().map_err(|reason| LoadError::Invalid {
            path: config.module.clone(),
            reason,
        })?;
        let loaded = runtime.load(&config.module, cache_dir)?;
        let mismatch = |e: anyhow::Error| LoadError::Mismatch {
            path: config.module.clone(),
            reason: format!("{e:#}"),
        };
        let instance_pre = runtime
            .linker
            .instantiate_pre(&loaded.component)
            .map_err(mismatch)?;
        let pre = TransformerPre::new(instance_pre).map_err(mismatch)?;
        let plugin = Self {
            config: config.clone(),
            tags: LogTags {
                stream: stream.into(),
                plugin: Arc::from(config.module.display().to_string()),
            },
            pre,
            live: None,
            told_emptied: false,
        };
        Ok((plugin.started()?, loaded))
    }

    /// Another instance of the same plugin, sharing its compiled component, for
    /// calls that run beside this one's. `init` runs on it at once.
    pub fn fork(&self) -> Result<Self, LoadError> {
        Self {
            config: self.config.clone(),
            tags: self.tags.clone(),
            pre: self.pre.clone(),
            live: None,
            told_emptied: false,
        }
        .started()
    }

    /// The plugin with its first instance, whose `init` has run.
    fn started(mut self) -> Result<Self, LoadError> {
        let live = self.instantiate().map_err(|e| LoadError::Init {
            path: self.config.module.clone(),
            reason: e.0,
        })?;
        self.live = Some(live);
        Ok(self)
    }

    /// The plugin's name in logs and error records: its module path.
    pub fn name(&self) -> &str {
        &self.tags.plugin
    }

    fn deadline_ticks(&self) -> u64 {
        let tick = TICK.as_millis() as u64;
        // One tick more: the current tick may be about to end.
        self.config.timeout_ms.div_ceil(tick) + 1
    }

    fn instantiate(&self) -> Result<Live, CallError> {
        let state = HostState::new(&self.config, self.tags.clone())
            .map_err(|e| CallError(format!("cannot set up the plugin's sandbox: {e:#}")))?;
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(self.deadline_ticks());
        let instance = self
            .pre
            .instance_pre()
            .instantiate(&mut store)
            .map_err(|e| self.describe(e, "instantiating", &store))?;
        let bindings = Transformer::new(&mut store, &instance)
            .map_err(|e| self.describe(e, "instantiating", &store))?;
        let transform = instance
            .get_func(&mut store, "transform")
            .ok_or_else(|| CallError("the plugin exports no `transform`".into()))?;
        let params: Vec<(String, String)> = self
            .config
            .params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        match bindings.call_init(&mut store, &params) {
            Ok(Ok(())) => Ok(Live { store, transform }),
            Ok(Err(reason)) => Err(CallError(format!("init refused the params: {reason}"))),
            Err(e) => Err(self.describe(e, "init", &store)),
        }
    }

    /// Runs one batch; the answers' data is appended to `data` (see
    /// [`Answer::read`]). On failure the instance is dropped, the next call gets a
    /// fresh one, and `data` is as it was.
    pub fn call(
        &mut self,
        batch: &[RecordIn<'_>],
        data: &mut Vec<u8>,
    ) -> Result<Answer, CallError> {
        let mut live = match self.live.take() {
            Some(live) => live,
            None => self.instantiate()?,
        };
        live.store.set_epoch_deadline(self.deadline_ticks());
        live.store.data().stderr.clear();
        let data_len = data.len();
        let answer = (|| -> anyhow::Result<Answer> {
            let func = live
                .transform
                .typed::<(&[RecordIn<'_>],), (Vec<RecordOut>,)>(&live.store)?;
            let (out,) = func.call(&mut live.store, (batch,))?;
            let answer = Answer::read(out, &mut live.store, data)?;
            func.post_return(&mut live.store)?;
            Ok(answer)
        })();
        match answer {
            Ok(answer) => {
                self.live = Some(live);
                Ok(answer)
            }
            Err(e) => {
                data.truncate(data_len);
                Err(self.describe(e, "transform", &live.store))
            }
        }
    }

    /// Warns, once, that records that had data were answered `ok` with none
    /// (what a JavaScript plugin's binding makes of a string or a plain object
    /// given as `data`); the chain sends those records to the error output and
    /// says `why`.
    pub fn tell_emptied(&mut self, record_id: u64, why: &str) {
        if !self.told_emptied {
            self.told_emptied = true;
            tracing::warn!(
                stream = &*self.tags.stream,
                plugin = self.name(),
                record_id,
                "{why} (told once); those records go to the error output"
            );
        }
    }

    /// A failure in words an operator can act on: what stopped the call (the
    /// trap itself, without its wasm backtrace, which goes to the debug log) and
    /// what the plugin wrote to stderr during it (a language runtime prints an
    /// uncaught exception there before it traps).
    fn describe(&self, error: anyhow::Error, during: &str, store: &Store<HostState>) -> CallError {
        tracing::debug!(
            plugin = self.name(),
            error = format!("{error:#}"),
            "plugin {during} failed"
        );
        let said = store.data().stderr.lines();
        let what = if matches!(
            error.downcast_ref::<wasmtime::Trap>(),
            Some(wasmtime::Trap::Interrupt)
        ) {
            let limit = Duration::from_millis(self.config.timeout_ms);
            format!("{during} timed out after {limit:?}")
        } else if format!("{error:#}").contains("forcing trap when growing memory") {
            format!(
                "{during} went over the memory limit of {} MiB",
                self.config.memory_mb
            )
        } else {
            let cause = match error.downcast_ref::<wasmtime::Trap>() {
                Some(trap) => trap.to_string(),
                None => error.root_cause().to_string(),
            };
            format!("{during} trapped: {cause}")
        };
        if said.is_empty() {
            CallError(what)
        } else {
            CallError(format!("{}\n({what})", said.join("\n")))
        }
    }
}
