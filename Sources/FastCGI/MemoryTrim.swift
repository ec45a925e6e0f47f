// Keeps a responder's heap near what it uses: fewer allocator arenas, and their free memory handed
// back to the kernel on a timer.
import CFastCGI
import Foundation
import Glibc
import Logging

/// glibc gives threads up to 8 arenas per core (16 here for a responder's 32 threads) and keeps the
/// memory freed in each for reuse by that arena alone. Pages of the page cache are rendered on one
/// thread and evicted on another, so every arena grew to its own high-water mark: in a soak a
/// responder's heaps held 137 MB for 43 MB in use, and its RSS swung between 78 and 99 MB and kept
/// rising. One arena per core (`M_ARENA_MAX`, set before any thread starts) pools the free memory —
/// the same soak's other responder with two arenas: 71 MB of heap for the same 43 MB — and
/// `malloc_trim` every `intervalSeconds` returns the free pages of every arena.
public enum MemoryTrim {
    /// Call first thing in `main`, before any thread allocates.
    public static func limitArenas() {
        _ = mallopt(M_ARENA_MAX, Int32(max(2, sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
    }

    public static func start(intervalSeconds: Double = 30, logger: Logger) {
        let thread = Thread {
            while true {
                Thread.sleep(forTimeInterval: intervalSeconds)
                let started = DispatchTime.now().uptimeNanoseconds
                let released = malloc_trim(0) == 1
                let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
                logger.debug("allocator's free memory returned", metadata: [
                    "released": "\(released)", "duration_ms": "\(String(format: "%.2f", ms))"])
            }
        }
        thread.name = "memory-trim"
        thread.start()
    }
}
