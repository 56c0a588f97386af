"""Keyword search for languages Postgres has no parser for (Korean, Japanese, Chinese).

Postgres's parsers keep a Korean word together with its particle ("위젯을") and a Japanese or Chinese sentence
as one token, so hardly any query word matches. Runs of Hangul, kana and Han characters are also indexed as
overlapping character bigrams ("위젯을" → "위젯", "젯을") under the 'simple' configuration, and questions are
cut the same way. Text without such characters gets exactly the lexemes it had before.

kb_tsvector(cfg, text) builds the full-text vector of a chunk or of a question, kb_tsquery(cfg, text) the
query that matches any of a question's lexemes. Existing chunks are re-indexed and the BM25 statistics
recounted, so an upgraded knowledge base needs no re-ingest.
"""

from django.conf import settings
from django.db import migrations

# Hangul jamo and syllables, kana (with the long-vowel mark and half-width forms), Han ideographs.
CJK_RUN = (
    r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f"
    r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+"
)

FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION kb_cjk_bigrams(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(string_agg(substr(m.r[1], i, 2), ' ' ORDER BY m.n, i), '')
      FROM regexp_matches(t, '{CJK_RUN}', 'g') WITH ORDINALITY AS m(r, n),
           generate_series(1, greatest(length(m.r[1]) - 1, 1)) AS i
$$;

CREATE OR REPLACE FUNCTION kb_tsvector(cfg regconfig, t text) RETURNS tsvector
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT to_tsvector(cfg, t) || to_tsvector('simple'::regconfig, kb_cjk_bigrams(t))
$$;

CREATE OR REPLACE FUNCTION kb_tsquery(cfg regconfig, t text) RETURNS tsquery
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT replace(plainto_tsquery(cfg, t)::text, '&', '|')::tsquery
           || replace(plainto_tsquery('simple'::regconfig, kb_cjk_bigrams(t))::text, '&', '|')::tsquery
$$;
"""

DROP_FUNCTIONS = """
DROP FUNCTION IF EXISTS kb_tsquery(regconfig, text);
DROP FUNCTION IF EXISTS kb_tsvector(regconfig, text);
DROP FUNCTION IF EXISTS kb_cjk_bigrams(text);
"""

REINDEX = """
UPDATE kb_chunk AS c
   SET search_vector =
       setweight(kb_tsvector(%(cfg)s::regconfig, d.title || ' ' || array_to_string(c.heading_path, ' ')), 'A')
       || setweight(kb_tsvector(%(cfg)s::regconfig, c.text), 'B')
  FROM kb_document AS d
 WHERE d.id = c.document_id
"""

RECOUNT = """
DELETE FROM kb_lexemestat;
INSERT INTO kb_lexemestat (lexeme, ndoc) SELECT word, ndoc FROM ts_stat('SELECT search_vector FROM kb_chunk');
UPDATE kb_knowledgebasestate
   SET avg_chunk_lexemes = greatest(s.avg_len, 1)
  FROM (SELECT coalesce(avg(length(search_vector)), 1) AS avg_len FROM kb_chunk) AS s;
"""


def reindex(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(REINDEX, {"cfg": settings.KB_TEXT_SEARCH_CONFIG})
        cursor.execute(RECOUNT)


class Migration(migrations.Migration):
    dependencies = [
        ("kb", "0003_document_chunking"),
    ]

    operations = [
        migrations.RunSQL(FUNCTIONS, reverse_sql=DROP_FUNCTIONS),
        migrations.RunPython(reindex, migrations.RunPython.noop),
    ]
