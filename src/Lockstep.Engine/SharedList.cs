using System.Collections.Immutable;

namespace Lockstep.Engine;

/// <summary>
/// A shared list whose walk the explorer sees. Every change is an operation on one <see cref="Shared{T}"/> of an
/// immutable list, and so is every step of a walk (<c>await foreach</c>): each step reads the list and compares it with
/// the one the walk started on. A walk that finds the list changed under it throws <see cref="CollectionModifiedException"/>,
/// as a <see cref="List{T}"/> enumerator would, but here the explorer knows both accesses, so it tries the change between
/// any two steps of the walk.
/// </summary>
public sealed class SharedList<T>
{
    private readonly Shared<ImmutableList<T>> _items;

    public SharedList(string name, IEnumerable<T>? initial = null)
        => _items = new Shared<ImmutableList<T>>(name, initial == null ? ImmutableList<T>.Empty : ImmutableList.CreateRange(initial));

    public string Name => _items.Name;

    /// <summary>The items without a scheduling point: for checkers and reports, never for model logic.</summary>
    public ImmutableList<T> Peek => _items.Peek;

    /// <summary>The whole list at once (an atomic snapshot). Returns it.</summary>
    public Op<ImmutableList<T>> Read() => _items.Read();

    /// <summary>Appends <paramref name="item"/> (list_add_tail). Returns the list before.</summary>
    public Op<ImmutableList<T>> Add(T item) => _items.Update(l => l.Add(item));

    /// <summary>Removes <paramref name="item"/> (list_del). Returns the list before.</summary>
    public Op<ImmutableList<T>> Remove(T item) => _items.Update(l => l.Remove(item));

    /// <summary>Empties the list. Returns the list before.</summary>
    public Op<ImmutableList<T>> Clear() => _items.Write(ImmutableList<T>.Empty);

    /// <summary>Any other change, atomically. Returns the list before.</summary>
    public Op<ImmutableList<T>> Update(Func<ImmutableList<T>, ImmutableList<T>> update) => _items.Update(update);

    /// <summary><c>await foreach (var x in list)</c>: one scheduling point per step.</summary>
    public Walk GetAsyncEnumerator() => new(this);

    public override string ToString() => Name;

    /// <summary>A walk of the list (list_for_each_entry): its first step takes the list, every later one checks it is unchanged.</summary>
    public sealed class Walk
    {
        private readonly SharedList<T> _list;
        private ImmutableList<T>? _walked;
        private int _index = -1;

        internal Walk(SharedList<T> list) => _list = list;

        public T Current => _walked![_index];

        public async SimTask<bool> MoveNextAsync()
        {
            var now = await _list._items.Read();
            if (_walked == null) _walked = now;
            else if (!ReferenceEquals(now, _walked)) throw new CollectionModifiedException(_list.Name);
            return ++_index < _walked.Count;
        }
    }
}

/// <summary>A walk found its list changed between two of its steps (the message a <see cref="List{T}"/> enumerator gives, with the list's name).</summary>
public sealed class CollectionModifiedException(string collection)
    : InvalidOperationException($"Collection was modified; enumeration operation may not execute ({collection})")
{
    /// <summary>The name of the list that changed.</summary>
    public string Collection { get; } = collection;
}
