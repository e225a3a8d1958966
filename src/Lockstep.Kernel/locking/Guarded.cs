using Lockstep.Engine;

namespace Lockstep.Kernel;

/// <summary>
/// A member protected by a lock (the kernel's <c>__guarded_by(lock)</c>): every access checks, as
/// <c>lockdep_assert_held</c> does, that the current task holds <see cref="Lock"/> — for a write, exclusively. Lock
/// operations are scheduling points the explorer orders, so state touched only inside the lock's critical sections is
/// explored in every order the lock allows; each explored execution verifies that claim. While the execution still has
/// one thread (the world being set up, not yet shared) no lock is needed. A missing lock is a WARN of kind
/// <c>assert-held</c>, and the access goes on.
/// </summary>
public sealed class Guarded<T>
{
    private T _value;

    public Guarded(string name, KernelLock @lock, T initial = default!)
    {
        Name = name;
        Lock = @lock;
        _value = initial;
    }

    /// <summary>As the kernel names the member, e.g. "kvm->mmu_invalidate_range_start".</summary>
    public string Name { get; }

    public KernelLock Lock { get; }

    /// <summary>The value without the check: for checkers and reports, never for model logic.</summary>
    public T Peek => _value;

    /// <summary>Read with the lock held in any mode; written with it held exclusively.</summary>
    public T Value
    {
        get
        {
            AssertHeld(write: false);
            return _value;
        }
        set
        {
            AssertHeld(write: true);
            _value = value;
        }
    }

    private void AssertHeld(bool write)
    {
        if (Sim.Execution.Threads.Count == 1) return;
        var t = Api.current;
        foreach (var h in t.held_locks)
            if (ReferenceEquals(h.Instance, Lock) && (!write || h.Read == 0)) return;
        Sim.Report(KernelLog.Warning("assert-held",
            $"WARNING: lockdep_assert_held{(write ? "_write" : "")}({Lock.Name}) failed: {Name} {(write ? "written" : "read")} without it",
            $"{Lock.Name}:{Name}"));
    }

    public override string ToString() => Name;
}
