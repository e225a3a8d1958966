using System.Runtime.CompilerServices;
using Lockstep.Engine;

namespace Lockstep.Kernel;

/// <summary>
/// A kernel of one configuration for one run: it outlives executions because lockdep's dependency graph does
/// (KERNEL-FACTS §4.4: an inversion is reported even when the two halves ran in different executions).
/// </summary>
public sealed class Kernel
{
    public Kernel(KernelConfig config)
    {
        Config = config;
        Lockdep = new Lockdep(this);
    }

    public KernelConfig Config { get; }

    public Lockdep Lockdep { get; }

    /// <summary>
    /// The lockdep map of RT's per-CPU softirq_ctrl.lock (kernel/softirq.c), which local_bh_disable takes; registered at
    /// first use, so kernels that never take it number their lock classes as before.
    /// </summary>
    internal LockdepMap softirq_ctrl_lock => _softirq_ctrl_lock ??= new LockdepMap(Lockdep.Class("(softirq_ctrl.lock)", WaitType.Config));

    private LockdepMap? _softirq_ctrl_lock;

    /// <summary>The model entry point for the explorer: runs <paramref name="init"/> as the boot task (swapper/0).</summary>
    public Func<SimTask> Boot(Func<SimTask> init) => () =>
    {
        var task = new TaskStruct(this, "swapper/0", 0) { Thread = Sim.CurrentThread };
        Sim.CurrentThread.Tag = task;
        Sim.Execution.Context = new ExecutionState { Tasks = { task } };
        return init();
    };

    /// <summary>Creates a task that runs <paramref name="fn"/> (kthread_run / a user task entering the kernel).</summary>
    public TaskStruct kthread_run(Func<SimTask> fn, string comm, int pid, bool daemon = false)
    {
        var task = new TaskStruct(this, comm, pid);
        State.Tasks.Add(task);
        async SimTask Body()
        {
            try
            {
                await fn();
            }
            catch (InvalidOperationException e) when (e.Message.StartsWith("Collection was modified"))
            {
                Sim.Fail(KernelLog.ListCorruption(task, e, StackAtThrow(e) ?? task.stack.ToArray()));
            }
            Lockdep.CheckNoLocksHeld(task);
        }
        var handle = daemon ? Sim.SpawnDaemon($"{comm}/{pid}", Body) : Sim.Spawn($"{comm}/{pid}", Body);
        handle.Thread.Tag = task;
        task.Thread = handle.Thread;
        task.Exited = handle;
        return task;
    }

    internal static ExecutionState State => (ExecutionState)Sim.Execution.Context!;

    // The modelled functions on the throwing task's stack when an exception was first thrown: by the time it reaches
    // kthread_run every KernelFunction on the way has been left, so the report takes the stack from here.
    private static readonly ConditionalWeakTable<Exception, string[]> ThrownAt = new();

    static Kernel() => AppDomain.CurrentDomain.FirstChanceException += (_, e) =>
    {
        if (e.Exception is ExecutionStoppedException || Execution.Current?.Running?.Tag is not TaskStruct task) return;
        ThrownAt.TryAdd(e.Exception, task.stack.ToArray());
    };

    private static string[]? StackAtThrow(Exception e) => ThrownAt.TryGetValue(e, out var stack) ? stack : null;

    /// <summary>
    /// Waits until all deferred work of this execution is done: every workqueue drained and every SRCU callback run.
    /// A model's "the system is quiet" checks call it first.
    /// </summary>
    public static async SimTask wait_for_deferred_work()
    {
        var state = State;
        for (var i = 0; i < state.Workqueues.Count; i++) await workqueue_struct.flush_workqueue(state.Workqueues[i]);
        for (var i = 0; i < state.SrcuWithCallbacks.Count; i++) await Srcu.srcu_barrier(state.SrcuWithCallbacks[i]);
    }

    /// <summary>Per-execution kernel state: taint, the tasks, the deferred-work queues.</summary>
    internal sealed class ExecutionState
    {
        public bool TaintWarn;

        /// <summary>
        /// Every task created so far, only ever appended to (for_each_process): what an SRCU grace period looks at. A task
        /// created after a grace period looked can hold no section the grace period must wait for.
        /// </summary>
        public readonly List<TaskStruct> Tasks = new();

        public readonly List<workqueue_struct> Workqueues = new();
        public readonly List<srcu_struct> SrcuWithCallbacks = new();
    }
}


/// <summary>Marks a modelled kernel function on the current task's call stack (for back traces and the trace).</summary>
public readonly struct KernelFunction : IDisposable
{
    private readonly TaskStruct _task;

    private KernelFunction(TaskStruct task) => _task = task;

    /// <summary><c>using var fn = KernelFunction.Enter();</c> at the top of a modelled function.</summary>
    public static KernelFunction Enter([CallerMemberName] string name = "")
    {
        var task = Api.current;
        task.stack.Add(name);
        if (task.Tracing) Sim.Emit(new FunctionEntered(name, task.stack.Count - 1));
        return new KernelFunction(task);
    }

    /// <summary>Leaves the function: records <see cref="FunctionLeft"/> (when tracing) and pops it off the task's stack.</summary>
    public void Dispose()
    {
        var stack = _task.stack;
        if (_task.Tracing) Sim.Emit(new FunctionLeft(stack[^1], stack.Count - 1));
        stack.RemoveAt(stack.Count - 1);
    }
}
