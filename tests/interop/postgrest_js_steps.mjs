// The conformance steps both JS clients run against rowgate's data API, written
// against the postgrest-js builder API (which InsForge's database client is).
// Every result is reduced to plain JSON and printed; the Python test that runs
// this script checks each one, and the database, itself.
//
// Tables and functions come from tests/dataapi/fixtures.sql: notes and comments
// are private to the token's user, items and categories are fixed and public.

function plain(result) {
  const { data, error, count, status } = result;
  const failure = error && {
    code: error.code,
    message: error.message,
    details: error.details,
    hint: error.hint,
  };
  return { data: data ?? null, error: failure ?? null, count: count ?? null, status };
}

export async function runSteps(db, runKey) {
  const out = {};
  const step = async (name, builder) => {
    out[name] = plain(await builder);
  };

  await step(
    'insert',
    db
      .from('notes')
      .insert([
        { title: 'alpha', score: 3, category_id: 1 },
        { title: 'beta', score: 1 },
        { title: 'gamma', score: 2, category_id: 2 },
      ])
      .select('id,title,score,category_id'),
  );
  const alpha = out.insert.data[0].id;
  await step(
    'insertComments',
    db
      .from('comments')
      .insert([
        { note_id: alpha, body: 'c1' },
        { note_id: alpha, body: 'c2' },
      ])
      .select('body'),
  );
  await step('insertMinimal', db.from('notes').insert({ title: 'delta', score: 0 }));

  await step(
    'page',
    db
      .from('notes')
      .select('title,score,category:categories(name),comments(body)', { count: 'exact' })
      .gte('score', 1)
      .order('score', { ascending: false })
      .order('body', { referencedTable: 'comments', ascending: false })
      .range(0, 1),
  );
  await step('headCount', db.from('notes').select('*', { count: 'exact', head: true }));
  await step(
    'inner',
    db.from('notes').select('title,comments!inner(body)').eq('comments.body', 'c2'),
  );
  await step(
    'filters',
    db
      .from('items')
      .select('id')
      .in('name', ['apple', 'dill, fresh'])
      .order('id', { ascending: true }),
  );
  await step(
    'orFilter',
    db.from('items').select('id').or('id.eq.2,kind.is.null').order('id'),
  );
  await step(
    'moreFilters',
    db
      .from('items')
      .select('id')
      .ilike('name', '%A%')
      .neq('id', 2)
      .contains('tags', ['red'])
      .not('kind', 'is', null),
  );
  await step(
    'textSearch',
    db.from('items').select('id').textSearch('doc', 'yellow banana', {
      type: 'plain',
      config: 'english',
    }),
  );
  await step('limited', db.from('items').select('id').order('id').limit(2));

  await step('single', db.from('notes').select('title,score').eq('title', 'beta').single());
  await step('singleMany', db.from('notes').select('title').single());
  await step('maybeNone', db.from('notes').select('title').eq('title', 'zzz').maybeSingle());

  await step(
    'update',
    db.from('notes').update({ body: 'edited' }).eq('title', 'beta').select('title,body'),
  );
  await step('upsertNew', db.from('upserts').upsert({ key: runKey, value: 1 }).select());
  await step(
    'upsertMerge',
    db.from('upserts').upsert({ key: runKey, value: 2 }, { onConflict: 'key' }).select(),
  );
  await step(
    'upsertIgnore',
    db.from('upserts').upsert({ key: runKey, value: 3 }, { ignoreDuplicates: true }).select(),
  );
  await step(
    'delete',
    db.from('notes').delete({ count: 'exact' }).eq('title', 'gamma').select('title'),
  );
  await step('rollback', db.from('notes').insert({ title: 'rolled back' }).select().rollback());

  await step('rpcPost', db.rpc('add_them', { a: 2, b: 3 }));
  await step('rpcGet', db.rpc('add_them', { a: 40, b: 2 }, { get: true }));
  await step(
    'rpcRows',
    db.rpc('items_of_kind', { kind: 'fruit' }, { count: 'exact' }).select('name').order('id'),
  );
  await step('csv', db.from('items').select('id,name').eq('id', 1).csv());
  await step('missingTable', db.from('nope').select());
  await step('badFilter', db.from('items').select('id').eq('id', 'abc'));
  return out;
}
