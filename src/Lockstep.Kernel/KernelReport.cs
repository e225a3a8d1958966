using System.Text;
using Lockstep.Engine;

namespace Lockstep.Kernel;

/// <summary>
/// A report in the kernel's own words. <see cref="Violation.Kind"/> names the kind of warning (might-sleep,
/// lockdep-circular, a WARN's own name...); which property it breaks is decided above the models (the property table).
/// <see cref="Violation.Message"/> is its first line; <see cref="Text"/> is the whole kernel-log text.
/// </summary>
public class KernelReport : Violation
{
    public KernelReport(string kind, string headline, string text, string task, string detail, KernelConfig config)
        : base(kind, headline)
    {
        Text = text;
        Task = task;
        Detail = detail;
        Config = config;
    }

    public string Text { get; }

    /// <summary>comm/pid of the task that hit it.</summary>
    public string Task { get; }

    /// <summary>
    /// What distinguishes two reports of one kind, never the schedule: the function and the lock class (might_sleep:
    /// "rt_spin_lock(&amp;kvm->mn_invalidate_lock) in kvm_mmu_notifier_invalidate_range_start"), the lock classes (lockdep),
    /// the check and the function it fired in (a WARN: "end in kvm_mmu_notifier_invalidate_range_end").
    /// </summary>
    public string Detail { get; }

    public KernelConfig Config { get; }

    /// <summary>
    /// A lockdep report's lock classes along the offending dependencies, first lock first: for a circular dependency
    /// the held lock, the new lock, then the existing chain back to the held lock; for recursive locking the held
    /// class twice. Null for other reports.
    /// </summary>
    public IReadOnlyList<string>? LockChain { get; init; }

    public override string Key => $"{Kind}:{Detail}";

    public override string Render() => Text;
}

/// <summary>The pieces every kernel report shares: the CPU/Comm banner and the call trace of modelled functions.</summary>
public static class KernelLog
{
    public static string Banner(TaskStruct task)
    {
        var tainted = Kernel.State.TaintWarn ? "Tainted: G        W" : "Not tainted";
        var c = task.Kernel.Config;
        return $"CPU: 0 UID: 0 PID: {task.pid} Comm: {task.comm} {tainted} {c.KernelRelease} #1 {(c.PREEMPT_RT ? "PREEMPT_RT" : "PREEMPT(voluntary)")}\n"
             + $"Hardware name: Lockstep model ({c.Describe()})";
    }

    public static void CallTrace(StringBuilder sb, TaskStruct task, params string[] innermost)
    {
        sb.AppendLine("Call Trace:");
        sb.AppendLine(" <TASK>");
        sb.AppendLine(" dump_stack_lvl");
        foreach (var f in innermost) sb.AppendLine($" {f}");
        for (var i = task.stack.Count - 1; i >= 0; i--) sb.AppendLine($" {task.stack[i]}");
        sb.AppendLine(" </TASK>");
    }

    /// <summary>
    /// A walk of a list found it changed between two of its steps (C#'s "Collection was modified" in model code): in the
    /// kernel that walker follows pointers of an entry or list head that was freed under it, or that another task
    /// changed without the lock the walker holds — a use-after-free or list corruption, named after the innermost
    /// modelled function of the walker (<paramref name="stack"/>, outermost first, as it stood at the throw).
    /// </summary>
    public static KernelReport ListCorruption(TaskStruct task, InvalidOperationException e, IReadOnlyList<string> stack)
    {
        var function = stack.Count > 0 ? stack[^1] : "?";
        var list = e is CollectionModifiedException m ? m.Collection : "a list";
        var headline = $"BUG: KASAN: use-after-free or list corruption in {function}: {list} changed while it walked it";
        var sb = new StringBuilder();
        sb.AppendLine("==================================================================");
        sb.AppendLine(headline);
        sb.AppendLine($"{list} was freed, or changed by another task without the lock the walker holds, between two steps of the walk");
        sb.AppendLine($"(model: {e.GetType().Name}: {e.Message})");
        sb.AppendLine(Banner(task));
        sb.AppendLine("Call Trace:");
        sb.AppendLine(" <TASK>");
        sb.AppendLine(" dump_stack_lvl");
        for (var i = stack.Count - 1; i >= 0; i--) sb.AppendLine($" {stack[i]}");
        sb.AppendLine(" </TASK>");
        sb.AppendLine("==================================================================");
        return new KernelReport("list-corruption", headline, sb.ToString(), task.ToString(), $"{function}:{list}", task.Kernel.Config);
    }

    /// <summary>
    /// A WARN or a failed invariant of model code: <paramref name="kind"/> names the check; the report's
    /// <see cref="KernelReport.Detail"/> is <paramref name="detail"/> and the modelled function it fired in.
    /// </summary>
    public static KernelReport Warning(string kind, string headline, string detail, string? body = null)
    {
        var task = Api.current;
        var site = task.stack.Count > 0 ? task.stack[^1] : task.comm;
        var sb = new StringBuilder();
        sb.AppendLine("------------[ cut here ]------------");
        sb.AppendLine(headline);
        if (body != null) sb.AppendLine(body.TrimEnd());
        sb.AppendLine($"WARNING: CPU: 0 PID: {task.pid} at {(task.stack.Count > 0 ? task.stack[^1] : "?")}");
        sb.AppendLine(Banner(task));
        CallTrace(sb, task);
        sb.AppendLine("---[ end trace 0000000000000000 ]---");
        Kernel.State.TaintWarn = true;
        return new KernelReport(kind, headline, sb.ToString(), task.ToString(), $"{detail} in {site}", task.Kernel.Config);
    }
}
