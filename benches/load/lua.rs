//! The wrk Lua scripts, written into the run's temp dir: one that walks a
//! path list (the tree scenarios) and one that sends several requests per
//! write (the pipelined scenario).

use std::fs;
use std::path::{Path, PathBuf};

use crate::wrk::WrkExtra;
use crate::Result;

/// Walks the path list given as the first script argument. wrk's
/// `request()` does not say which connection asks, so the script keeps one
/// cursor per connection (the second argument), each starting at its own
/// offset (i × length ÷ connections), and takes them in turn: the
/// connections walk the list side by side instead of fetching the same
/// files at the same moment. The requests are formatted once, in `init`.
const WALK: &str = r#"-- written by the wharf load benchmark: walk a path list
local reqs, cursors, n, c, turn = {}, {}, 0, 1, 0

function init(args)
  for path in io.lines(args[1]) do
    n = n + 1
    reqs[n] = wrk.format("GET", path)
  end
  if n == 0 then error("empty path list " .. args[1]) end
  c = math.max(1, tonumber(args[2]) or 1)
  for i = 1, c do cursors[i] = math.floor((i - 1) * n / c) end
end

function request()
  turn = turn % c + 1
  local k = cursors[turn]
  cursors[turn] = (k + 1) % n
  return reqs[k + 1]
end
"#;

/// Sends `depth` requests for one path in each write, as TechEmpower's
/// plaintext test does; wrk counts the requests in the string and reads
/// that many responses before it writes again.
const PIPELINE: &str = r#"-- written by the wharf load benchmark: pipelined requests
local req

function init(args)
  local depth = tonumber(args[1]) or 16
  local r = {}
  for i = 1, depth do r[i] = wrk.format("GET", args[2]) end
  req = table.concat(r)
end

function request()
  return req
end
"#;

fn write(dir: &Path, name: &str, text: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    fs::write(&path, text)?;
    Ok(path)
}

/// wrk's extra arguments to walk the path list `list` with `conns` cursors.
pub fn walk(dir: &Path, list: &Path, conns: u32) -> Result<WrkExtra> {
    let script = write(dir, "walk.lua", WALK)?;
    Ok(WrkExtra {
        options: vec!["-s".into(), script.display().to_string()],
        script_args: vec![list.display().to_string(), conns.to_string()],
    })
}

/// wrk's extra arguments to send `depth` requests for `path` per write.
pub fn pipeline(dir: &Path, path: &str, depth: usize) -> Result<WrkExtra> {
    let script = write(dir, "pipeline.lua", PIPELINE)?;
    Ok(WrkExtra {
        options: vec!["-s".into(), script.display().to_string()],
        script_args: vec![depth.to_string(), path.to_string()],
    })
}
