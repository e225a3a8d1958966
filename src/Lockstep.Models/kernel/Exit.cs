using Lockstep.Engine;
using Lockstep.Kernel;
using static Lockstep.Kernel.Api;

namespace Lockstep.Models.mm;

/// <summary>kernel/exit.c: exit_mm; and task->mm, which the models add to the kernel's struct task_struct.</summary>
public partial class Mm
{
    /// <summary>task->mm: the VMM's mm for the VMM's threads (set when the task is created), NULL for kernel threads.</summary>
    public static readonly Field<mm_struct?> task_mm = new("task->mm");

    /// <summary>current->mm.</summary>
    public static Shared<mm_struct?> current_mm => current.added.Get(task_mm);

    /// <summary>
    /// exit_mm: current->mm = NULL, then mmput (the last user tears the address space down). The kernel does the store
    /// under task_lock and mmap_read_lock (for the lazy-TLB switch); only this task reads its current->mm in the model,
    /// so neither is modelled.
    /// </summary>
    public virtual async SimTask exit_mm()
    {
        using var fn = KernelFunction.Enter();
        var mm = await current_mm.Read();
        if (mm == null) return;
        await current_mm.Write(null);
        await mmput(mm);
    }
}
