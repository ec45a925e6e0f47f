// A value recomputed at most once per interval for a whole responder, with single flight.
import Dispatch
import Foundation

/// Holds the last value of an expensive computation (the `/health` queries) and hands it out
/// while it is younger than `maxAge`. When it is older, one thread recomputes it and the others
/// wait for that result instead of running the same queries (at most `waitSeconds`, then they
/// compute their own). The age counts from when the computation started, so an answer is never
/// older than `maxAge` plus its own computing time.
final class Recent<Value: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var value: Value?
    private var computedAt: UInt64 = 0
    private var computing = false
    private let maxAgeNanos: UInt64
    private let waitSeconds: Double

    init(maxAge: Double, waitSeconds: Double) {
        self.maxAgeNanos = UInt64(maxAge * 1e9)
        self.waitSeconds = waitSeconds
    }

    func get(_ compute: () -> Value) -> Value {
        condition.lock()
        let deadline = Date(timeIntervalSinceNow: waitSeconds)
        while true {
            if let value, DispatchTime.now().uptimeNanoseconds - computedAt < maxAgeNanos {
                condition.unlock()
                return value
            }
            guard computing else { break }
            if !condition.wait(until: deadline) {
                // The computing thread is stuck (a statement timeout is coming): do not queue behind it.
                condition.unlock()
                return compute()
            }
        }
        computing = true
        condition.unlock()
        let started = DispatchTime.now().uptimeNanoseconds
        let fresh = compute()
        condition.lock()
        value = fresh
        computedAt = started
        computing = false
        condition.broadcast()
        condition.unlock()
        return fresh
    }
}
