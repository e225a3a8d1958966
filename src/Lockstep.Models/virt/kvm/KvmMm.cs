using System.Runtime.CompilerServices;
using Lockstep.Engine;
using Lockstep.Kernel;
using static Lockstep.Kernel.Api;

namespace Lockstep.Models.virt.kvm;

/// <summary>virt/kvm/kvm_mm.h (KERNEL-FACTS §3.2).</summary>
public static class kvm_mm
{
    /// <summary>KVM_MMU_LOCK: write_lock on an rwlock_t mmu_lock (KVM_HAVE_MMU_RWLOCK), spin_lock on a spinlock_t.</summary>
    public static SimTask KVM_MMU_LOCK(KernelLock mmu_lock, [CallerMemberName] string site = "") => write_lock(mmu_lock, site);

    public static SimTask KVM_MMU_UNLOCK(KernelLock mmu_lock, [CallerMemberName] string site = "") => write_unlock(mmu_lock, site);
}
