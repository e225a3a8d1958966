using System.Runtime.CompilerServices;

namespace Lockstep.Engine;

/// <summary>The model-facing API: spawn, yield, assert, report.</summary>
public static class Sim
{
    private static Execution Exec => Execution.Current ?? throw new InvalidOperationException("not inside a model run");

    /// <summary>Starts a simulated thread running <paramref name="body"/>.</summary>
    public static SimThreadHandle Spawn(string name, Func<SimTask> body) => Exec.Spawn(name, body);

    /// <summary>Starts a daemon: a thread that may still be waiting (for work) when everything else has finished.</summary>
    public static SimThreadHandle SpawnDaemon(string name, Func<SimTask> body) => Exec.Spawn(name, body, daemon: true);

    /// <summary>The running execution.</summary>
    public static Execution Execution => Exec;

    /// <summary>A scheduling point that touches nothing: lets other threads run.</summary>
    public static YieldOp Yield() => new(Exec);

    public static SimThread CurrentThread => Exec.Running ?? throw new InvalidOperationException("no simulated thread is running");

    public static bool Tracing => Exec.Tracing;

    /// <summary>Adds a note to the trace (only kept when tracing).</summary>
    public static void Note(string text) => Exec.Note(text);

    /// <summary>
    /// Adds a note built from an interpolated string: when the execution is not tracing, nothing is formatted (the
    /// holes are not evaluated); values other than numbers and strings are rendered by <see cref="TraceFormat.Value"/>.
    /// </summary>
    public static void Note(ref TraceNoteHandler text)
    {
        if (text.Enabled) Exec.Note(text.ToStringAndClear());
    }

    /// <summary>
    /// Adds an event of a layer above to the trace. Check <see cref="Tracing"/> before building the payload:
    /// <c>if (Sim.Tracing) Sim.Emit(new MyEvent(..));</c>, so that exploration allocates nothing.
    /// </summary>
    public static void Emit(TraceData data) => Exec.Emit(data);

    /// <summary>Records a violation; the execution goes on.</summary>
    public static void Report(Violation violation) => Exec.Report(violation);

    /// <summary>Records a violation and ends the execution.</summary>
    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    public static void Fail(Violation violation)
    {
        Exec.Stop(violation);
        throw new ExecutionStoppedException();
    }

    public static void Assert([System.Diagnostics.CodeAnalysis.DoesNotReturnIf(false)] bool condition, string message)
    {
        if (!condition) Fail(new Violation("assertion", $"assertion failed: {message}"));
    }
}

/// <summary>Awaitable of <see cref="Sim.Yield"/>.</summary>
public readonly struct YieldOp : ICriticalNotifyCompletion
{
    private readonly Execution _execution;
    internal YieldOp(Execution execution) => _execution = execution;
    public YieldOp GetAwaiter() => this;
    public bool IsCompleted => _execution.SchedulingPoint(null, AccessKind.None, null);
    public void OnCompleted(Action continuation) => _execution.Suspend(continuation);
    public void UnsafeOnCompleted(Action continuation) => _execution.Suspend(continuation);
    public void GetResult() { }
}
