using Lockstep.Engine;

namespace Lockstep.Kernel;

/// <summary>
/// The lock word every kernel lock sits on: 0 free, -1 held exclusively, n > 0 held by n readers. Acquisition is a
/// blocking scheduling point, so contention really blocks the simulated task.
/// </summary>
public abstract class KernelLock
{
    protected KernelLock(string name, LockClass cls)
    {
        Name = name;
        Class = cls;
        Word = new Shared<int>(name);
    }

    public string Name { get; }

    public LockClass Class { get; }

    internal Shared<int> Word { get; }

    internal Op<int> LockExclusive() => Word.WaitAndUpdate(static v => v == 0, static _ => -1);

    internal Op<int> LockShared() => Word.WaitAndUpdate(static v => v >= 0, static v => v + 1);

    internal Op<int> TryLockShared() => Word.Update(static v => v >= 0 ? v + 1 : v);

    internal Op<int> TryLockExclusive() => Word.Update(static v => v == 0 ? -1 : v);

    internal Op<int> UnlockExclusive() => Word.Write(0);

    internal Op<int> UnlockShared() => Word.Update(static v => v - 1);

    /// <summary>Held by anyone (for assertions such as lockdep_assert_held).</summary>
    public bool IsLocked => Word.Peek != 0;

    public override string ToString() => Name;
}

/// <summary><c>raw_spinlock_t</c>: spins with preemption disabled on every kernel (KERNEL-FACTS §4.1).</summary>
public sealed class raw_spinlock_t : KernelLock
{
    public raw_spinlock_t(Kernel kernel, string name) : base(name, kernel.Lockdep.Class(name, WaitType.Spin)) { }
}

/// <summary><c>spinlock_t</c>: a spinning lock on !RT, an rtmutex-based sleeping lock on PREEMPT_RT (§4.1).</summary>
public sealed class spinlock_t : KernelLock
{
    public spinlock_t(Kernel kernel, string name) : base(name, kernel.Lockdep.Class(name, WaitType.Config)) { }
}

/// <summary><c>rwlock_t</c>: spinning reader/writer lock on !RT, rwbase_rt sleeping lock on PREEMPT_RT (§4.1).</summary>
public sealed class rwlock_t : KernelLock
{
    public rwlock_t(Kernel kernel, string name) : base(name, kernel.Lockdep.Class(name, WaitType.Config)) { }
}

/// <summary><c>struct mutex</c>: always a sleeping lock.</summary>
public sealed class mutex : KernelLock
{
    public mutex(Kernel kernel, string name) : base(name, kernel.Lockdep.Class(name, WaitType.Sleep)) { }
}

/// <summary><c>struct rw_semaphore</c> (e.g. <c>mmap_lock</c>): always sleeping; trylock variants never sleep.</summary>
public sealed class rw_semaphore : KernelLock
{
    public rw_semaphore(Kernel kernel, string name) : base(name, kernel.Lockdep.Class(name, WaitType.Sleep)) { }
}

/// <summary>
/// The C type of a lock member: what a struct's initialiser builds (spin_lock_init, rwlock_init, mutex_init...) and what
/// a patch changes when it changes the declaration.
/// </summary>
public sealed class LockType
{
    private readonly Func<Kernel, string, KernelLock> _init;

    private LockType(string name, Func<Kernel, string, KernelLock> init)
    {
        Name = name;
        _init = init;
    }

    public string Name { get; }

    public static readonly LockType raw_spinlock_t = new(nameof(raw_spinlock_t), static (k, n) => new raw_spinlock_t(k, n));
    public static readonly LockType spinlock_t = new(nameof(spinlock_t), static (k, n) => new spinlock_t(k, n));
    public static readonly LockType rwlock_t = new(nameof(rwlock_t), static (k, n) => new rwlock_t(k, n));
    public static readonly LockType mutex = new(nameof(mutex), static (k, n) => new mutex(k, n));
    public static readonly LockType rw_semaphore = new(nameof(rw_semaphore), static (k, n) => new rw_semaphore(k, n));

    /// <summary>The lock of this type named <paramref name="name"/> (its lockdep class name, e.g. "&amp;kvm->mmu_lock").</summary>
    public KernelLock Init(Kernel kernel, string name) => _init(kernel, name);

    public override string ToString() => Name;
}
