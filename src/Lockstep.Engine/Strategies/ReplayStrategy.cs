namespace Lockstep.Engine;

/// <summary>Runs exactly one execution: the one a schedule describes.</summary>
public sealed class ReplayStrategy : IStrategy
{
    private readonly IReadOnlyList<byte> _choices;
    private int _position;
    private bool _started;

    private readonly bool _stopAtEnd;

    public ReplayStrategy(IReadOnlyList<byte> choices) => _choices = choices;

    /// <param name="choices">The schedule.</param>
    /// <param name="stopAtEnd">
    /// A prefix: end the execution (as pruned) at the first choice after it instead of going on with the lowest thread.
    /// </param>
    public ReplayStrategy(IReadOnlyList<byte> choices, bool stopAtEnd) : this(choices) => _stopAtEnd = stopAtEnd;

    public string Description => "replay";

    public bool Exhaustive => false;

    /// <summary>Whether the model asked for a choice the schedule does not have or cannot make.</summary>
    public string? Divergence { get; private set; }

    public bool BeginExecution()
    {
        if (_started) return false;
        _started = true;
        return true;
    }

    public int Choose(in SchedulingState state)
    {
        if (System.Numerics.BitOperations.PopCount(state.Enabled) == 1)
            return System.Numerics.BitOperations.TrailingZeroCount(state.Enabled);
        if (_position == _choices.Count && _stopAtEnd) return -1;
        if (_position == _choices.Count)
        {
            Divergence ??= $"the schedule ends at step {state.Step} but the model goes on";
            return Lowest(state);
        }
        int t = _choices[_position++];
        if ((state.Enabled & (1u << t)) != 0) return t;
        Divergence ??= $"the schedule picks thread {t} at step {state.Step}, which cannot run there";
        return Lowest(state);
    }

    private static int Lowest(in SchedulingState state) => System.Numerics.BitOperations.TrailingZeroCount(state.Enabled);
}
