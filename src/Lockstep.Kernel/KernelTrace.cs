using Lockstep.Engine;

namespace Lockstep.Kernel;

/// <summary>
/// A trace event of the kernel layer. <see cref="Depth"/> is the task's call depth when it was recorded: the number of
/// modelled kernel functions on its stack, not counting the one a <see cref="FunctionEntered"/> enters.
/// </summary>
public abstract record KernelTraceData(int Depth) : TraceData;

/// <summary><see cref="KernelFunction.Enter"/>: a modelled kernel function starts.</summary>
public sealed record FunctionEntered(string Function, int Depth) : KernelTraceData(Depth)
{
    public override string Text => $"{Function}()";
}

/// <summary>The end of a modelled kernel function (its <see cref="KernelFunction"/> is disposed).</summary>
public sealed record FunctionLeft(string Function, int Depth) : KernelTraceData(Depth)
{
    public override string Text => $"return from {Function}()";
}

/// <summary>How a lock is held: Write is exclusive (spinlocks, mutexes, write locks), Read is shared (read_lock, down_read, lock_map_acquire_read).</summary>
public enum LockMode : byte { Write, Read }

/// <summary>What a lock operation did.</summary>
public enum LockOutcome : byte
{
    /// <summary>
    /// A blocking acquisition. Recorded when the call is made, before the task waits for the lock (so a task that
    /// blocks forever ends on this event); the access to the lock word that follows is the step that takes it.
    /// </summary>
    Acquired,
    Released,
    /// <summary>A trylock that took the lock (recorded after the attempt).</summary>
    TrylockSucceeded,
    /// <summary>A trylock that found the lock taken (recorded after the attempt).</summary>
    TrylockFailed,
    /// <summary>lock_map_sync: validated as an acquisition and released at once.</summary>
    Synced,
}

/// <summary>
/// A lock call: <see cref="Call"/> is the function as the (converted) code makes it (spin_lock, read_lock_irq,
/// raw_spin_lock, mutex_lock, down_read_trylock, lock_map_acquire ...), <see cref="Lock"/> the lock's name (its lockdep
/// class name for a lockdep map).
/// </summary>
public sealed record LockOperation(string Call, string Lock, LockMode Mode, LockOutcome Outcome, int Depth) : KernelTraceData(Depth)
{
    public bool Acquires => Outcome is LockOutcome.Acquired or LockOutcome.TrylockSucceeded or LockOutcome.Synced;

    public override string Text => Outcome switch
    {
        LockOutcome.TrylockSucceeded => $"{Call}({Lock}) succeeded",
        LockOutcome.TrylockFailed => $"{Call}({Lock}) failed",
        _ => $"{Call}({Lock})",
    };
}

/// <summary>What an SRCU call does.</summary>
public enum SrcuOp : byte
{
    ReadLock,
    ReadUnlock,
    /// <summary>synchronize_srcu: the caller starts waiting for the grace period (recorded after its might_sleep and lock_map_sync).</summary>
    Synchronize,
    /// <summary>call_srcu: a callback queued to run after a grace period.</summary>
    CallSrcu,
}

/// <summary>An SRCU read-side section boundary, a grace-period wait or a queued callback on domain <see cref="Domain"/>.</summary>
public sealed record SrcuOperation(SrcuOp Op, string Domain, int Depth) : KernelTraceData(Depth)
{
    public override string Text => Op switch
    {
        SrcuOp.ReadLock => $"srcu_read_lock({Domain})",
        SrcuOp.ReadUnlock => $"srcu_read_unlock({Domain})",
        SrcuOp.Synchronize => $"wait_for_completion (grace period of {Domain})",
        _ => $"call_srcu({Domain})",
    };
}

/// <summary>The task-context section a <see cref="ContextChange"/> opens or closes.</summary>
public enum ContextSection : byte { NonBlock, Preempt, Irq, BottomHalf, Rcu, Migrate }

/// <summary>
/// A call by model code that changes what might_sleep looks at: non_block_start/end, preempt_disable/enable,
/// local_irq_disable/enable, local_bh_disable/enable, rcu_read_lock/unlock, migrate_disable/enable. (Lock functions
/// change the same state internally; those changes are part of their <see cref="LockOperation"/>.) Recorded after the
/// change, with <see cref="Count"/> the section's nesting count then (for Irq: 1 disabled, 0 enabled).
/// </summary>
public sealed record ContextChange(string Call, ContextSection Section, bool Opens, int Count, int Depth) : KernelTraceData(Depth)
{
    public override string Text => $"{Call}()";
}
