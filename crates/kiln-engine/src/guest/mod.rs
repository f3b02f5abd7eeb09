//! The guest agent of `--isolation vm`: kiln as PID 1 of the guest's initramfs. It brings
//! the guest up ([`boot`]), says hello on its serial port, then takes layers, mounts'
//! files and steps from the host until the host closes the channel, and powers off.
//! Each step runs in the same embedded sandbox as on the host ([`step`]).

mod boot;
mod cache_mount;
mod forward;
mod step;

use kiln_vm::frame::{self, Kind};
use kiln_vm::message::{Hello, LayerHeader, MountHeader, PROTOCOL};
use std::fs::File;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Whether this process is the guest agent: PID 1 started as `/init`.
pub fn is_agent() -> bool {
    std::process::id() == 1 && std::env::args_os().next().is_some_and(|a| a == "/init")
}

/// Run the agent; never returns (the guest powers off).
pub fn main() -> ! {
    if let Err(e) = serve() {
        eprintln!("kiln agent: {e}");
    }
    let _ = rustix::system::reboot(rustix::system::RebootCommand::Restart);
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

/// The channel's writing side, shared with the threads that pass a step's output on.
pub(crate) type Sender = Arc<Mutex<File>>;

pub(crate) use kiln_vm::forward::send;

fn serve() -> Result<(), String> {
    let channel = boot::start()?;
    let io = |e: std::io::Error| format!("the channel: {e}");
    let mut rx = channel.try_clone().map_err(io)?;
    let tx: Sender = Arc::new(Mutex::new(channel));
    let kernel = rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned();
    let hello = serde_json::to_vec(&Hello {
        protocol: PROTOCOL,
        kernel,
    })
    .map_err(|e| e.to_string())?;
    send(&tx, Kind::Hello, &hello).map_err(io)?;
    // What went wrong receiving a layer or a mount: told at the next step.
    let mut broken: Option<String> = None;
    loop {
        let (kind, payload) = match frame::read_frame(&mut rx) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(io(e)),
        };
        let result = match kind {
            Kind::Layer => frame::parse_json::<LayerHeader>(&payload)
                .map_err(|e| e.to_string())
                .and_then(|h| step::receive_layer(&mut rx, &h.digest)),
            Kind::Mount => frame::parse_json::<MountHeader>(&payload)
                .map_err(|e| e.to_string())
                .and_then(|h| step::receive_mount(&mut rx, h.index)),
            Kind::Step => {
                let outcome = match broken.take() {
                    Some(why) => Err(why),
                    None => frame::parse_json(&payload)
                        .map_err(|e| e.to_string())
                        .and_then(|s| step::run(&tx, &rx, &s)),
                };
                if let Err(why) = outcome {
                    send(&tx, Kind::Failed, why.as_bytes()).map_err(io)?;
                }
                Ok(())
            }
            // The host ends the relay of a step's ssh agents after any end of the step,
            // also one reported before the relay started.
            Kind::End => Ok(()),
            other => Err(format!("an unexpected {other:?} frame from the host")),
        };
        if let Err(why) = result {
            broken.get_or_insert(why);
        }
        let _ = tx.lock().map(|mut c| c.flush());
    }
}
