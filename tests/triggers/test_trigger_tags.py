from triggers.templatetags.trigger_tags import reason


def test_it_sets_backticked_paths_as_code_and_escapes_the_rest():
    text = "`order.total` was <b>12</b>, needed > `limits.min`"
    assert reason(text) == "<code>order.total</code> was &lt;b&gt;12&lt;/b&gt;, needed &gt; <code>limits.min</code>"


def test_it_escapes_what_is_inside_the_code_and_leaves_a_lone_backtick_as_text():
    assert reason("`<script>` and `half") == "<code>&lt;script&gt;</code> and `half"
    assert reason(None) == ""
