using System.Numerics;

namespace Lockstep.Engine;

/// <summary>
/// Every interleaving, without any reduction: a depth-first walk over the choice of runnable thread at every step, each
/// leaf one execution. The baseline DPOR is measured and checked against; it relies on the model being deterministic
/// given the schedule (as replay does), so the prefix to the next branch is chosen again.
/// </summary>
public sealed class EnumerationStrategy : IStrategy
{
    private readonly List<(uint Enabled, int Chosen)> _path = new();
    private int _depth;
    private bool _started, _done;

    public string Description => "enumeration (no reduction)";

    public bool Exhaustive => _done;

    public bool BeginExecution()
    {
        if (_started && _done) return false;
        _started = true;
        _depth = 0;
        return true;
    }

    public int Choose(in SchedulingState state)
    {
        if (_depth == _path.Count) _path.Add((state.Enabled, BitOperations.TrailingZeroCount(state.Enabled)));
        return _path[_depth++].Chosen;
    }

    public void EndExecution(ExecutionEnd end)
    {
        // the deepest choice with a runnable thread above the one taken takes that thread next
        _path.RemoveRange(_depth, _path.Count - _depth);
        while (_path.Count > 0)
        {
            var (enabled, chosen) = _path[^1];
            var later = enabled & ~((2u << chosen) - 1);
            if (later != 0)
            {
                _path[^1] = (enabled, BitOperations.TrailingZeroCount(later));
                return;
            }
            _path.RemoveAt(_path.Count - 1);
        }
        _done = true;
    }
}
