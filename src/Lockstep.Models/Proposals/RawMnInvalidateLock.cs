using Lockstep.Kernel;
using Lockstep.Models.mm;
using Lockstep.Models.virt.kvm;

namespace Lockstep.Models.Proposals;

/// <summary>
/// [PATCH] KVM: mmu_notifier: make mn_invalidate_lock non-sleeping for non-blocking invalidations (Feb 9 2026):
/// struct kvm's mn_invalidate_lock becomes a raw_spinlock_t; start, end and kvm_swap_active_memslots take it raw.
/// </summary>
public sealed class RawMnInvalidateLock : KvmMain
{
    public static readonly Proposal Proposal = new("raw-mn-invalidate-lock", "mn_invalidate_lock becomes raw_spinlock_t",
        "shaikh.kamal, Feb 9 2026 (KERNEL-FACTS §5 #1)")
    { Kvm = m => new RawMnInvalidateLock(m) };

    public RawMnInvalidateLock(Mm mm) : base(mm) { }

    // -	spinlock_t mn_invalidate_lock;
    // +	raw_spinlock_t mn_invalidate_lock;
    public override LockType kvm_mn_invalidate_lock => LockType.raw_spinlock_t;
}
