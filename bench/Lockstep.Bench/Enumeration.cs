using System.Numerics;
using Lockstep.Engine;

namespace Lockstep.Bench;

/// <summary>
/// Exhaustive search without any reduction: depth-first over the tree of scheduling choices, every runnable thread at
/// every step, each leaf one execution. The baseline the scaling mode measures DPOR against. It relies on the model
/// being deterministic given the schedule (as the engine's replay does): the prefix to the next branch is re-chosen.
/// </summary>
public sealed class Enumeration : IStrategy
{
    private readonly List<uint> _enabled = new();
    private readonly List<byte> _chosen = new();
    private int _depth;
    private bool _started;
    private bool _done;

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
        if (_depth < _chosen.Count) return _chosen[_depth++];
        var first = BitOperations.TrailingZeroCount(state.Enabled);
        _enabled.Add(state.Enabled);
        _chosen.Add((byte)first);
        _depth++;
        return first;
    }

    public void EndExecution(ExecutionEnd end)
    {
        // the last branch point with a runnable thread above the one chosen takes that thread next
        for (var i = _chosen.Count - 1; i >= 0; i--)
        {
            var above = _enabled[i] & ~((2u << _chosen[i]) - 1);
            if (above == 0) continue;
            _chosen[i] = (byte)BitOperations.TrailingZeroCount(above);
            _chosen.RemoveRange(i + 1, _chosen.Count - i - 1);
            _enabled.RemoveRange(i + 1, _enabled.Count - i - 1);
            return;
        }
        _done = true;
    }
}
