namespace Lockstep.Engine;

/// <summary>Owns every scheduling decision of an exploration, one execution after another.</summary>
public interface IStrategy
{
    /// <summary>Name and parameters, e.g. "dpor", "pct(d=3, seed=7)".</summary>
    string Description { get; }

    /// <summary>Whether shared objects must remember their values (guard checks on past states).</summary>
    bool NeedsValueHistory => false;

    /// <summary>Prepares the next execution; false when there is none left.</summary>
    bool BeginExecution();

    void OnThreadCreated(int parent, int child) { }

    /// <summary>Picks a thread among <see cref="SchedulingState.Enabled"/>, or -1 to abandon the execution.</summary>
    int Choose(in SchedulingState state);

    void EndExecution(ExecutionEnd end) { }

    /// <summary>After the last execution: whether every behaviour within the bounds was covered.</summary>
    bool Exhaustive { get; }
}
