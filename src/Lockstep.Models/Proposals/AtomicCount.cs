using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models.mm;
using Lockstep.Models.virt.kvm;
using static Lockstep.Kernel.rcuwait;

namespace Lockstep.Models.Proposals;

/// <summary>
/// Sebastian's variant (Feb 11 2026): mn_active_invalidate_count becomes an atomic; start does atomic_inc without
/// the lock, end does a decrement-and-test with a WARN on underflow; the lock shrinks to the updater's wait
/// (kvm_swap_active_memslots reads the count with atomic_read: the same read in the model).
/// </summary>
public sealed class AtomicCount : KvmMain
{
    public static readonly Proposal Proposal = new("atomic-count", "mn_active_invalidate_count becomes atomic, the lock shrinks",
        "Sebastian Andrzej Siewior, Feb 11 2026 (KERNEL-FACTS §5 #2)")
    { Kvm = m => new AtomicCount(m) };

    public AtomicCount(Mm mm) : base(mm) { }

    // -	spin_lock(&kvm->mn_invalidate_lock);
    // -	kvm->mn_active_invalidate_count++;
    // -	spin_unlock(&kvm->mn_invalidate_lock);
    // +	atomic_inc(&kvm->mn_active_invalidate_count);
    protected override async SimTask mn_active_invalidate_count_inc(kvm k) => await k.mn_active_invalidate_count.Update(static c => c + 1);

    // +	if (WARN_ON_ONCE(atomic_dec_return(&kvm->mn_active_invalidate_count) < 0)) ...
    // +	if (!atomic_read(&kvm->mn_active_invalidate_count)) rcuwait_wake_up(&kvm->mn_memslots_update_rcuwait);
    protected override async SimTask mn_active_invalidate_count_dec(kvm k)
    {
        var before = await k.mn_active_invalidate_count.Update(static c => c - 1);
        if (before <= 0)
            Sim.Report(KernelLog.Warning("count-underflow", "WARNING: atomic_dec_return(&kvm->mn_active_invalidate_count) < 0", "end"));
        if (before == 1) await rcuwait_wake_up(k.mn_memslots_update_rcuwait);
    }
}
