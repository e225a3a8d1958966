using Lockstep.Engine;

namespace Lockstep.Kernel;

/// <summary>Task states used by the model (include/linux/sched.h).</summary>
public static class TaskState
{
    public const int TASK_RUNNING = 0;
    public const int TASK_INTERRUPTIBLE = 1;
    public const int TASK_UNINTERRUPTIBLE = 2;
}

/// <summary>
/// The per-task context the checks read (KERNEL-FACTS §4.2, §4.3, §6.4): preempt count, IRQ state,
/// non_block_count, RCU nesting, held locks and a call stack of modelled kernel functions.
/// </summary>
public sealed class TaskStruct
{
    internal TaskStruct(Kernel kernel, string comm, int pid)
    {
        Kernel = kernel;
        comm_ = comm;
        this.pid = pid;
        __state = new Shared<int>($"{comm}/{pid}.__state", TaskState.TASK_RUNNING);
        _execution = Sim.Execution;
    }

    private readonly Execution _execution;

    /// <summary>Whether the task's execution records a trace (<see cref="Sim.Tracing"/> without looking the execution up).</summary>
    internal bool Tracing => _execution.Tracing;

    public Kernel Kernel { get; }

    private readonly string comm_;
    public string comm => comm_;
    public readonly int pid;

    /// <summary>Bits 0-7 preemption, 8-15 softirq (SOFTIRQ_DISABLE_OFFSET = 0x200), 16-19 hardirq.</summary>
    public int preempt_count;
    public bool irqs_disabled;
    public int non_block_count;
    public int rcu_read_lock_nesting;
    public int migration_disabled;
    public int softirq_disable_cnt;

    /// <summary>The task's scheduler state: a shared word so that wakeups and schedule() are scheduling points.</summary>
    public readonly Shared<int> __state;

    public SimThread? Thread { get; internal set; }

    /// <summary>Join handle of the task (null for the boot task).</summary>
    public SimThreadHandle? Exited { get; internal set; }

    /// <summary>Locks held, oldest first, as lockdep's held_locks.</summary>
    public readonly List<HeldLock> held_locks = new();

    /// <summary>Modelled kernel functions currently running in this task, outermost first.</summary>
    public readonly List<string> stack = new();

    /// <summary>
    /// This task's SRCU read sections, per domain, like a CPU's srcu_ctrs: only this task opens and closes them; a grace
    /// period reads them (and creates the entry of a task that never read the domain, which changes nothing).
    /// </summary>
    internal readonly Dictionary<srcu_struct, SrcuReader> srcu_readers = new();

    /// <summary>Members the layers above add to struct task_struct (<see cref="Field{T}"/>), e.g. the models' mm.</summary>
    public readonly StructFields added = new();

    public bool in_atomic() => preempt_count != 0;

    /// <summary>include/linux/preempt.h preemptible(): no preempt count and IRQs on.</summary>
    public bool preemptible() => preempt_count == 0 && !irqs_disabled;

    public override string ToString() => $"{comm}/{pid}";
}

/// <summary>
/// One entry of a task's held-lock stack. <see cref="Read"/> is lockdep's read: 0 exclusive, 1 shared, 2 recursive read;
/// <see cref="Trylock"/> is held_lock->trylock (a trylock acquisition adds no dependencies, and check_prevs_add walks past it).
/// </summary>
public sealed record HeldLock(LockClass Class, object Instance, int Read, string Site, bool Trylock);
