"""Hand-labelled sentence-boundary cases for `doc_hvae.data.segmentation`.

Each entry of `GOLD` is `(name, kind, text, sentences)`:

- `kind` says what the text looks like, and so which splitter is meant for it:
  - "raw": ordinary cased prose (news-like sentences, hard-wrapped Gutenberg paragraphs);
  - "pretokenized": cased, space-tokenized text as in WikiText (`3 @.@ 5`, `1 @,@ 000`,
    `role @-@ playing`, ` . ` before the next capitalised sentence);
  - "lowercase_pretokenized": lowercased, space-tokenized text as in the Yahoo Answers
    corpus of Yang et al. 2017 and PTB (`... long island . we have been ...`).
- `sentences` is the gold segmentation, written by hand. Each gold sentence is the source
  span with every whitespace run (line breaks included) written as one space, which is
  exactly what `split_sentences` returns; so gold and prediction compare as plain strings.

Most "raw" and "pretokenized" texts are real: Gutenberg passages from `austen-emma.txt` and
`melville-moby_dick.txt`, WikiText-2 training lines, Yahoo Answers validation documents.
The rest are written to exercise one difficulty each (abbreviations, initials, decimals,
URLs, ...). Only cases whose correct answer a careful reader would not dispute are
included: genuinely ambiguous spans (an abbreviation that ends a sentence, such as "in the
U.S. Then ...") are left out rather than labelled by fiat.

The module has no imports from the project, so the benchmark can load it by path.
"""

from __future__ import annotations

GoldCase = tuple[str, str, str, list[str]]

KINDS: tuple[str, ...] = ("raw", "pretokenized", "lowercase_pretokenized")

GOLD: list[GoldCase] = [
    # ------------------------------------------------------------------ raw prose
    (
        "abbrev_titles",
        "raw",
        "Mr. Smith met Dr. Jones at the station at noon. They talked for an hour before Mrs. Smith arrived.",
        [
            "Mr. Smith met Dr. Jones at the station at noon.",
            "They talked for an hour before Mrs. Smith arrived.",
        ],
    ),
    (
        "abbrev_eg_ie",
        "raw",
        "Bring something warm, e.g. a coat or a heavy scarf. The nights are cold, i.e. well below freezing, even in May.",
        [
            "Bring something warm, e.g. a coat or a heavy scarf.",
            "The nights are cold, i.e. well below freezing, even in May.",
        ],
    ),
    (
        "abbrev_us_midsentence",
        "raw",
        "The U.S. economy grew by two percent last year. Exports to the U.K. rose sharply.",
        [
            "The U.S. economy grew by two percent last year.",
            "Exports to the U.K. rose sharply.",
        ],
    ),
    (
        "abbrev_etc_vs",
        "raw",
        "We bought apples, pears, plums, etc. at the market. The final was Spain vs. Italy, and it went to penalties.",
        [
            "We bought apples, pears, plums, etc. at the market.",
            "The final was Spain vs. Italy, and it went to penalties.",
        ],
    ),
    (
        "abbrev_time_pm",
        "raw",
        "The last train leaves at 11 p.m. on weekdays. Tickets can be bought on board.",
        [
            "The last train leaves at 11 p.m. on weekdays.",
            "Tickets can be bought on board.",
        ],
    ),
    (
        "initials",
        "raw",
        "J. R. R. Tolkien was born in Bloemfontein in 1892. He later taught at Oxford with C. S. Lewis.",
        [
            "J. R. R. Tolkien was born in Bloemfontein in 1892.",
            "He later taught at Oxford with C. S. Lewis.",
        ],
    ),
    (
        "decimals_money_percent",
        "raw",
        "The ticket cost $4.50 in 2019. By 2023 it was 5.25 euros, a rise of 16.7% in four years. Nobody complained.",
        [
            "The ticket cost $4.50 in 2019.",
            "By 2023 it was 5.25 euros, a rise of 16.7% in four years.",
            "Nobody complained.",
        ],
    ),
    (
        "version_and_section_numbers",
        "raw",
        "Version 2.1.3 fixes the crash described in section 4.2 of the manual. Upgrade as soon as you can.",
        [
            "Version 2.1.3 fixes the crash described in section 4.2 of the manual.",
            "Upgrade as soon as you can.",
        ],
    ),
    (
        "ellipsis_midsentence",
        "raw",
        "I was going to say... never mind, it does not matter. Let us go home.",
        [
            "I was going to say... never mind, it does not matter.",
            "Let us go home.",
        ],
    ),
    (
        "ellipsis_at_end",
        "raw",
        "He waited at the gate for hours... Nobody came.",
        [
            "He waited at the gate for hours...",
            "Nobody came.",
        ],
    ),
    (
        "double_quote_after_period",
        "raw",
        'She said, "I will be there by six." Then she hung up the phone.',
        [
            'She said, "I will be there by six."',
            "Then she hung up the phone.",
        ],
    ),
    (
        "curly_quote_after_question",
        "raw",
        "\u201cWhere are you going?\u201d asked the guard. \u201cHome,\u201d I said.",
        [
            "\u201cWhere are you going?\u201d asked the guard.",
            "\u201cHome,\u201d I said.",
        ],
    ),
    (
        "parenthesis_after_period",
        "raw",
        "(This was the last time anyone saw him.) The house stood empty for years.",
        [
            "(This was the last time anyone saw him.)",
            "The house stood empty for years.",
        ],
    ),
    (
        "question_and_exclamation",
        "raw",
        "Did you see that? It was amazing! I want to go again.",
        [
            "Did you see that?",
            "It was amazing!",
            "I want to go again.",
        ],
    ),
    (
        "repeated_terminators",
        "raw",
        "Are you serious?! That cannot be right!! Check the numbers again.",
        [
            "Are you serious?!",
            "That cannot be right!!",
            "Check the numbers again.",
        ],
    ),
    (
        "url_and_email",
        "raw",
        "See https://www.example.com/docs/index.html?page=2 for details. "
        "Questions go to help.desk@example.org or to the forum. We reply within a day.",
        [
            "See https://www.example.com/docs/index.html?page=2 for details.",
            "Questions go to help.desk@example.org or to the forum.",
            "We reply within a day.",
        ],
    ),
    (
        "company_suffix",
        "raw",
        "Acme Inc. reported record profits on Tuesday. Its shares rose 3% in early trading.",
        [
            "Acme Inc. reported record profits on Tuesday.",
            "Its shares rose 3% in early trading.",
        ],
    ),
    (
        "no_final_punctuation",
        "raw",
        "The results were good. More work is needed on the second part",
        [
            "The results were good.",
            "More work is needed on the second part",
        ],
    ),
    (
        "gutenberg_emma_wrapped",
        "raw",
        # austen-emma.txt, hard-wrapped at ~70 columns, two spaces after a full stop.
        "The event had every promise of happiness for her friend.  Mr. Weston\n"
        "was a man of unexceptionable character, easy fortune, suitable age,\n"
        "and pleasant manners; and there was some satisfaction in considering\n"
        "with what self-denying, generous friendship she had always wished\n"
        "and promoted the match; but it was a black morning's work for her.\n"
        "The want of Miss Taylor would be felt every hour of every day.",
        [
            "The event had every promise of happiness for her friend.",
            "Mr. Weston was a man of unexceptionable character, easy fortune, suitable age, and pleasant "
            "manners; and there was some satisfaction in considering with what self-denying, generous "
            "friendship she had always wished and promoted the match; but it was a black morning's work for her.",
            "The want of Miss Taylor would be felt every hour of every day.",
        ],
    ),
    (
        "gutenberg_emma_dialogue",
        "raw",
        # austen-emma.txt: a quoted speech; "--" joins clauses, it ends nothing by itself.
        '"I cannot agree with you, papa; you know I cannot.  Mr. Weston is such\n'
        "a good-humoured, pleasant, excellent man, that he thoroughly deserves\n"
        "a good wife;--and you would not have had Miss Taylor live with us\n"
        'for ever, and bear all my odd humours, when she might have a house of her own?"',
        [
            '"I cannot agree with you, papa; you know I cannot.',
            "Mr. Weston is such a good-humoured, pleasant, excellent man, that he thoroughly deserves "
            "a good wife;--and you would not have had Miss Taylor live with us for ever, and bear all my "
            'odd humours, when she might have a house of her own?"',
        ],
    ),
    (
        "gutenberg_moby_dick_opening",
        "raw",
        # melville-moby_dick.txt, first lines of chapter 1.
        "Call me Ishmael.  Some years ago--never mind how long\n"
        "precisely--having little or no money in my purse, and nothing\n"
        "particular to interest me on shore, I thought I would sail about a\n"
        "little and see the watery part of the world.  It is a way I have of\n"
        "driving off the spleen and regulating the circulation.",
        [
            "Call me Ishmael.",
            "Some years ago--never mind how long precisely--having little or no money in my purse, and "
            "nothing particular to interest me on shore, I thought I would sail about a little and see "
            "the watery part of the world.",
            "It is a way I have of driving off the spleen and regulating the circulation.",
        ],
    ),
    (
        "gutenberg_emma_short_sentences",
        "raw",
        # austen-emma.txt: very short sentences, Mrs. inside a wrapped line.
        "Highbury, the large and populous village, almost amounting to a town,\n"
        "to which Hartfield, in spite of its separate lawn, and shrubberies,\n"
        "and name, did really belong, afforded her no equals.  The Woodhouses\n"
        "were first in consequence there.  All looked up to them.",
        [
            "Highbury, the large and populous village, almost amounting to a town, to which Hartfield, "
            "in spite of its separate lawn, and shrubberies, and name, did really belong, afforded her no equals.",
            "The Woodhouses were first in consequence there.",
            "All looked up to them.",
        ],
    ),
    # ------------------------------------------------------- WikiText pre-tokenized
    (
        "wikitext_plain_sentences",
        "pretokenized",
        " The game began development in 2010 , carrying over a large portion of the work done on Valkyria "
        "Chronicles II . While it retained the standard features of the series , it also underwent multiple "
        "adjustments , such as making the game more <unk> for series newcomers . A large team of writers "
        "handled the script . The game 's opening theme was sung by May 'n . ",
        [
            "The game began development in 2010 , carrying over a large portion of the work done on Valkyria "
            "Chronicles II .",
            "While it retained the standard features of the series , it also underwent multiple adjustments , "
            "such as making the game more <unk> for series newcomers .",
            "A large team of writers handled the script .",
            "The game 's opening theme was sung by May 'n .",
        ],
    ),
    (
        "wikitext_decimal_and_thousands",
        "pretokenized",
        " On November 21 , 2011 , Nathan agreed to terms on a two @-@ year deal with the Texas Rangers worth "
        "$ 14 @.@ 5 million guaranteed with an option for a third year at $ 9 million or a $ 500 @,@ 000 buyout . ",
        [
            "On November 21 , 2011 , Nathan agreed to terms on a two @-@ year deal with the Texas Rangers worth "
            "$ 14 @.@ 5 million guaranteed with an option for a third year at $ 9 million or a $ 500 @,@ 000 buyout .",
        ],
    ),
    (
        "wikitext_many_decimals",
        "pretokenized",
        " The Gloire @-@ class ships were designed as enlarged and improved versions of the <unk> @-@ class "
        "armored cruisers by Emile Bertin . Her crew numbered 612 officers and men . The ship measured 139 @.@ 8 "
        "meters ( <unk> ft 8 in ) overall , with a beam of 20 @.@ 2 meters ( 66 ft 3 in ) . Sully had a draft of "
        "7 @.@ 7 meters ( 25 ft 3 in ) and displaced 10 @,@ <unk> metric tons ( 9 @,@ 856 long tons ) . ",
        [
            "The Gloire @-@ class ships were designed as enlarged and improved versions of the <unk> @-@ class "
            "armored cruisers by Emile Bertin .",
            "Her crew numbered 612 officers and men .",
            "The ship measured 139 @.@ 8 meters ( <unk> ft 8 in ) overall , with a beam of 20 @.@ 2 meters "
            "( 66 ft 3 in ) .",
            "Sully had a draft of 7 @.@ 7 meters ( 25 ft 3 in ) and displaced 10 @,@ <unk> metric tons "
            "( 9 @,@ 856 long tons ) .",
        ],
    ),
    (
        "wikitext_census_numbers",
        "pretokenized",
        " In the 2011 Census , the City of Sarnia had a population of 72 @,@ 366 , an increase of 1 @.@ 3 % "
        "from the 2006 Census . With a land area of 164 @.@ 71 km2 ( 63 @.@ 59 sq mi ) , it had a population "
        "density of 439 @.@ 354 / km2 ( 1 @,@ 137 @.@ 92 / sq mi ) in 2011 . ",
        [
            "In the 2011 Census , the City of Sarnia had a population of 72 @,@ 366 , an increase of 1 @.@ 3 % "
            "from the 2006 Census .",
            "With a land area of 164 @.@ 71 km2 ( 63 @.@ 59 sq mi ) , it had a population density of "
            "439 @.@ 354 / km2 ( 1 @,@ 137 @.@ 92 / sq mi ) in 2011 .",
        ],
    ),
    (
        "wikitext_abbrev_attached",
        "pretokenized",
        # "U.S." keeps its periods attached in WikiText, so it is no boundary.
        " Galveston / <unk> / is a coastal city located on Galveston Island and Pelican Island in the U.S. "
        "state of Texas . The community of 208 @.@ 3 square miles ( 539 km2 ) , with its population of "
        "47 @,@ 762 people ( 2012 Census estimate ) , is the county seat and second @-@ largest municipality "
        "of Galveston County . It is located within Houston – The Woodlands – Sugar Land metropolitan area . ",
        [
            "Galveston / <unk> / is a coastal city located on Galveston Island and Pelican Island in the U.S. "
            "state of Texas .",
            "The community of 208 @.@ 3 square miles ( 539 km2 ) , with its population of 47 @,@ 762 people "
            "( 2012 Census estimate ) , is the county seat and second @-@ largest municipality of Galveston County .",
            "It is located within Houston – The Woodlands – Sugar Land metropolitan area .",
        ],
    ),
    (
        "wikitext_st_abbrev",
        "pretokenized",
        " She restored a <unk> in Storrington , Sussex , England , bequeathed by her friend Edith Major , and "
        "named it St. Andrew 's . After taking up residence , her health began to deteriorate . ",
        [
            "She restored a <unk> in Storrington , Sussex , England , bequeathed by her friend Edith Major , "
            "and named it St. Andrew 's .",
            "After taking up residence , her health began to deteriorate .",
        ],
    ),
    (
        "wikitext_quote_then_period",
        "pretokenized",
        " Shortly after the publication of the book The Case for Israel by Alan Dershowitz , Finkelstein derided "
        'it as " a collection of fraud , <unk> , plagiarism , and nonsense " . During a debate on Democracy Now ! '
        ", Finkelstein asserted that Dershowitz lacked knowledge about specific contents of his own book . ",
        [
            "Shortly after the publication of the book The Case for Israel by Alan Dershowitz , Finkelstein derided "
            'it as " a collection of fraud , <unk> , plagiarism , and nonsense " .',
            # "Democracy Now !" is a programme title: "!" before "," ends nothing.
            "During a debate on Democracy Now ! , Finkelstein asserted that Dershowitz lacked knowledge about "
            "specific contents of his own book .",
        ],
    ),
    (
        "wikitext_quote_after_period",
        "pretokenized",
        ' Saprang noted in an interview that , " if telecommunication businesses are in private hands , the '
        "country won 't be safe . \" The junta had earlier announced plans to cancel the initial public offering "
        "of both TOT and CAT Telecom . ",
        [
            'Saprang noted in an interview that , " if telecommunication businesses are in private hands , the '
            "country won 't be safe . \"",
            "The junta had earlier announced plans to cancel the initial public offering of both TOT and CAT Telecom .",
        ],
    ),
    (
        "wikitext_decimal_ends_sentence",
        "pretokenized",
        # A number ending its sentence, "9 @.@ 1 .", and an attached "vs." inside a quoted title.
        ' In its original American broadcast , " Bart vs. Australia " finished 56th in the ratings for the week '
        "of February 13 – 19 , 1995 , with a Nielsen rating of 9 @.@ 1 . It was the fourth highest rated show on "
        "Fox that week . ",
        [
            'In its original American broadcast , " Bart vs. Australia " finished 56th in the ratings for the week '
            "of February 13 – 19 , 1995 , with a Nielsen rating of 9 @.@ 1 .",
            "It was the fourth highest rated show on Fox that week .",
        ],
    ),
    (
        "wikitext_heading",
        "pretokenized",
        " = = Gameplay = = ",
        ["= = Gameplay = ="],
    ),
    # ------------------------------------------- lowercased pre-tokenized (Yahoo, PTB)
    (
        "yahoo_plain",
        "lowercase_pretokenized",
        "does ne1 think that christian make a _UNK with the devil when they joined with government ? "
        "government joined with church because they knew that if people did not question their religon , "
        "they would not question their government . it was all for money which is supposed to be the root "
        "of all evil .",
        [
            "does ne1 think that christian make a _UNK with the devil when they joined with government ?",
            "government joined with church because they knew that if people did not question their religon , "
            "they would not question their government .",
            "it was all for money which is supposed to be the root of all evil .",
        ],
    ),
    (
        "yahoo_trailing_fragment",
        "lowercase_pretokenized",
        "what do you think of _UNK organization ? according to their website , _UNK was established in 1993 "
        "and is currently owned by 39 hospitals located in new york city and long island . we have been the "
        "fastest growing medicare plan in new york city and the # 1 health plan in new york state . cc",
        [
            "what do you think of _UNK organization ?",
            "according to their website , _UNK was established in 1993 and is currently owned by 39 hospitals "
            "located in new york city and long island .",
            "we have been the fastest growing medicare plan in new york city and the # 1 health plan in new york state .",
            "cc",
        ],
    ),
    (
        "yahoo_stacked_terminators",
        "lowercase_pretokenized",
        # A run of terminal tokens ("... . ?", "? .") ends one sentence, not one each.
        "why is it ... . ? why is it that when i ask a question about the environment or politics , i get maybe "
        "four or five answers , yet when i ask about an opinion of wal-mart , i get fifty ? do people simply not "
        "have opinions about important matters ? well , the answer to your question is easy ... . there are "
        "n't as many people involved in environmental and political matters .",
        [
            "why is it ... . ?",
            "why is it that when i ask a question about the environment or politics , i get maybe four or five "
            "answers , yet when i ask about an opinion of wal-mart , i get fifty ?",
            "do people simply not have opinions about important matters ?",
            "well , the answer to your question is easy ... .",
            "there are n't as many people involved in environmental and political matters .",
        ],
    ),
    (
        "yahoo_question_then_period",
        "lowercase_pretokenized",
        "could you advise me ? i have received an email from uk national lottery , they told me that i have "
        "won _UNK pounds . will they invite me to uk until i receive the prize ? . first - did you play in the "
        "uk national lottery ? did you pay money for a ticket ?",
        [
            "could you advise me ?",
            "i have received an email from uk national lottery , they told me that i have won _UNK pounds .",
            "will they invite me to uk until i receive the prize ? .",
            "first - did you play in the uk national lottery ?",
            "did you pay money for a ticket ?",
        ],
    ),
    (
        "lowercase_attached_abbrev",
        "lowercase_pretokenized",
        # PTB-style: "mr." and "u.s." keep their period, so they are no boundary.
        "i asked mr. smith about the u.s. market . he said it was n't worth the risk .",
        [
            "i asked mr. smith about the u.s. market .",
            "he said it was n't worth the risk .",
        ],
    ),
    (
        "lowercase_exclamations",
        "lowercase_pretokenized",
        "i love this song !! who sings it ? please tell me , it costs 3.50 on itunes .",
        [
            "i love this song !!",
            "who sings it ?",
            "please tell me , it costs 3.50 on itunes .",
        ],
    ),
    (
        "lowercase_closing_bracket",
        "lowercase_pretokenized",
        "i tried everything ( even rebooting twice . ) nothing worked , so i took it back to the store .",
        [
            "i tried everything ( even rebooting twice . )",
            "nothing worked , so i took it back to the store .",
        ],
    ),
    (
        "lowercase_closing_quote",
        "lowercase_pretokenized",
        'my teacher always told me " never give up . " i still remember that .',
        [
            'my teacher always told me " never give up . "',
            "i still remember that .",
        ],
    ),
    (
        "lowercase_opening_quote_after_period",
        "lowercase_pretokenized",
        # The '"' after "." opens the next sentence's quotation; it must not be pulled back.
        'he walked out . " i am leaving , " she said .',
        [
            "he walked out .",
            '" i am leaving , " she said .',
        ],
    ),
    (
        "ptb_style_quotes",
        "lowercase_pretokenized",
        "`` we 're not going to sell . '' the company said its shares fell N % .",
        [
            "`` we 're not going to sell . ''",
            "the company said its shares fell N % .",
        ],
    ),
    (
        "lowercase_url",
        "lowercase_pretokenized",
        "check out www.example.com . it has everything you need .",
        [
            "check out www.example.com .",
            "it has everything you need .",
        ],
    ),
]
