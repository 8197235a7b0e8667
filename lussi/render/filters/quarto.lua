--[[
quarto.lua: the Quarto features lussi's report uses that plain pandoc lacks.

Used by lussi.render's built-in engine (pandoc >= 3.0):
  1. conditional content: .content-visible / .content-hidden with
     when-format= / unless-format= on divs, spans and code blocks
     ("html" also matches revealjs, as in Quarto);
  2. callouts: ::: {.callout-note|tip|warning|important|caution title="..."}
     (a leading heading becomes the title when there is no title=);
  3. cross-references: figures (#fig-...) and tables (#tbl-...) are numbered
     in document order, captions get "Figure N: " / "Table N: ", and
     @fig-... / @tbl-... / @sec-... citations become links;
  4. revealjs: the first figure or lone image of a slide gets reveal.js's
     r-stretch class so it fills the rest of the slide.
Hand-written because Quarto's own filters need Quarto's runtime.
]]

local stringify = pandoc.utils.stringify

-- Names the current output answers to, following Quarto's format aliases.
local function format_names()
  local names = { [FORMAT] = true }
  if FORMAT:match("^html") or FORMAT == "revealjs" then
    names["html"] = true
    names["html:js"] = true
    names["html4"] = FORMAT == "html4"
    names["html5"] = FORMAT ~= "html4"
  end
  return names
end
local NAMES = format_names()

local function matches(spec)
  for name in spec:gmatch("[^%s,]+") do
    if NAMES[name] then
      return true
    end
  end
  return false
end

-- Whether an element carrying .content-visible/.content-hidden is shown.
local function shown(el)
  local visible = el.classes:includes("content-visible")
  local hidden = el.classes:includes("content-hidden")
  if not visible and not hidden then
    return nil
  end
  local when = el.attributes["when-format"]
  local unless = el.attributes["unless-format"]
  -- With no condition, .content-visible always shows and .content-hidden always hides.
  local condition
  if when == nil and unless == nil then
    condition = true
  else
    condition = (when == nil or matches(when)) and (unless == nil or not matches(unless))
  end
  if visible then
    return condition
  end
  return not condition
end

-- Shown content replaces its wrapper, so headings inside it still start slides
-- and enter the table of contents; a wrapper with an id or other classes stays.
local function keep(el)
  el.classes = el.classes:filter(function(c)
    return c ~= "content-visible" and c ~= "content-hidden"
  end)
  el.attributes["when-format"] = nil
  el.attributes["unless-format"] = nil
  if el.t == "CodeBlock" or el.identifier ~= "" or #el.classes > 0 then
    return el
  end
  for _ in pairs(el.attributes) do
    return el
  end
  return el.content
end

local function conditional_element(el)
  local show = shown(el)
  if show == nil then
    return nil
  end
  if not show then
    return {}
  end
  return keep(el)
end

local conditional = {
  Div = conditional_element,
  Span = conditional_element,
  CodeBlock = conditional_element,
}

local CALLOUT_TITLES = {
  note = "Note",
  tip = "Tip",
  warning = "Warning",
  important = "Important",
  caution = "Caution",
}

local callouts = {
  Div = function(el)
    local kind
    for _, class in ipairs(el.classes) do
      local name = class:match("^callout%-(%a+)$")
      if name and CALLOUT_TITLES[name] then
        kind = name
      end
    end
    if kind == nil then
      return nil
    end
    local body = el.content
    local title
    if el.attributes["title"] then
      title = pandoc.Inlines(el.attributes["title"])
    elseif #body > 0 and body[1].t == "Header" then
      title = body[1].content
      body = pandoc.Blocks({ table.unpack(body, 2) })
    else
      title = pandoc.Inlines(CALLOUT_TITLES[kind])
    end
    local classes = { "callout", "callout-" .. kind }
    for _, class in ipairs(el.classes) do
      if class ~= "callout-" .. kind then
        table.insert(classes, class)
      end
    end
    return pandoc.Div({
      pandoc.Div({ pandoc.Plain({ pandoc.Strong(title) }) }, { class = "callout-title" }),
      pandoc.Div(body, { class = "callout-body" }),
    }, { id = el.identifier, class = table.concat(classes, " ") })
  end,
}

-- Cross-references ------------------------------------------------------------

local refs = {} -- id -> { kind = "Figure"|"Table"|"Section", number = "N" }
local counts = { fig = 0, tbl = 0 }

local function prefix_inlines(kind, number, caption)
  local out = pandoc.Inlines({ pandoc.Str(kind), pandoc.Space(), pandoc.Str(number .. ":") })
  if caption and #caption > 0 then
    out:insert(pandoc.Space())
    out:extend(caption)
  end
  return out
end

local function caption_inlines(blocks)
  local inlines = pandoc.Inlines({})
  for i, block in ipairs(blocks) do
    if i > 1 then
      inlines:insert(pandoc.Space())
    end
    if block.content then
      inlines:extend(block.content)
    end
  end
  return inlines
end

local function register(id, kind)
  local key = id:match("^(%a+)%-")
  counts[key] = counts[key] + 1
  refs[id] = { kind = kind, number = tostring(counts[key]) }
  return refs[id].number
end

-- A div's last paragraph is its caption (Quarto's div syntax for figures/tables).
local function split_caption(blocks)
  local n = #blocks
  if n >= 2 and (blocks[n].t == "Para" or blocks[n].t == "Plain") then
    return pandoc.Blocks({ table.unpack(blocks, 1, n - 1) }), blocks[n].content
  end
  return blocks, pandoc.Inlines({})
end

-- A pandoc Figure or Table with a fig-/tbl- identifier: numbered, its caption prefixed.
local function number_float(el, kind)
  local number = register(el.identifier, kind)
  local caption = caption_inlines(el.caption.long)
  el.caption.long = pandoc.Blocks({ pandoc.Plain(prefix_inlines(kind, number, caption)) })
  return el
end

local numbering = {
  traverse = "topdown",
  Figure = function(el)
    if not el.identifier:match("^fig%-") then
      return nil
    end
    el.classes:insert("quarto-float-fig")
    return number_float(el, "Figure")
  end,
  Div = function(el)
    local id = el.identifier
    if id:match("^fig%-") then
      local content, caption = split_caption(el.content)
      local number = register(id, "Figure")
      local figure = pandoc.Figure(
        content,
        { pandoc.Plain(prefix_inlines("Figure", number, caption)) },
        { id = id, class = "quarto-float-fig" }
      )
      return figure, false
    elseif id:match("^tbl%-") then
      local content, caption = split_caption(el.content)
      if #caption == 0 and #content == 1 and content[1].t == "Table" then
        caption = caption_inlines(content[1].caption.long)
        content[1].caption.long = pandoc.Blocks({})
      end
      local number = register(id, "Table")
      local title = pandoc.Div(
        { pandoc.Plain(prefix_inlines("Table", number, caption)) },
        { class = "table-caption" }
      )
      content:insert(1, title)
      el.content = content
      el.classes:insert("quarto-float-tbl")
      return el, false
    end
    return nil
  end,
  Table = function(el)
    if not el.identifier:match("^tbl%-") then
      return nil
    end
    return number_float(el, "Table")
  end,
}

-- Section numbers as pandoc's --number-sections would print them.
local function number_sections(doc)
  local min_level = 7
  for _, block in ipairs(doc.blocks) do
    if block.t == "Header" and block.level < min_level then
      min_level = block.level
    end
  end
  local counters = {}
  doc:walk({
    Header = function(el)
      if el.classes:includes("unnumbered") then
        return nil
      end
      local depth = el.level - min_level + 1
      if depth < 1 then
        return nil
      end
      counters[depth] = (counters[depth] or 0) + 1
      for d = depth + 1, 6 do
        counters[d] = nil
      end
      if el.identifier:match("^sec%-") then
        local parts = {}
        for d = 1, depth do
          table.insert(parts, tostring(counters[d] or 0))
        end
        refs[el.identifier] = {
          kind = "Section",
          number = table.concat(parts, "."),
          title = el.content,
        }
      end
    end,
  })
end

local function resolve(doc)
  local numbered = doc.meta["number-sections"] and stringify(doc.meta["number-sections"]) == "true"
  return doc:walk({
    Cite = function(el)
      local ours = false
      for _, citation in ipairs(el.citations) do
        if citation.id:match("^fig%-") or citation.id:match("^tbl%-") or citation.id:match("^sec%-") then
          ours = true
        end
      end
      if not ours then
        return nil
      end
      local out = pandoc.Inlines({})
      for i, citation in ipairs(el.citations) do
        if i > 1 then
          out:extend({ pandoc.Str(","), pandoc.Space() })
        end
        local ref = refs[citation.id]
        if ref == nil then
          pandoc.log.warn("unresolved cross-reference @" .. citation.id)
          out:insert(pandoc.Strong({ pandoc.Str("?@" .. citation.id) }))
        else
          local text
          if ref.kind == "Section" and not numbered then
            text = ref.title
          elseif citation.mode == "SuppressAuthor" then
            text = pandoc.Inlines({ pandoc.Str(ref.number) })
          else
            text = pandoc.Inlines({ pandoc.Str(ref.kind), pandoc.Space(), pandoc.Str(ref.number) })
          end
          out:insert(pandoc.Link(text, "#" .. citation.id, "", { class = "quarto-xref" }))
        end
      end
      return out
    end,
  })
end

local crossrefs = {
  Pandoc = function(doc)
    doc = doc:walk(numbering)
    number_sections(doc)
    return resolve(doc)
  end,
}

-- Slides: the first figure (or lone image) on each slide fills the space left
-- below the other content, via reveal.js's r-stretch (Quarto's auto-stretch).
local function lone_image(block)
  if block.t ~= "Para" and block.t ~= "Plain" then
    return false
  end
  local images = 0
  for _, inline in ipairs(block.content) do
    if inline.t == "Image" then
      images = images + 1
    elseif inline.t ~= "Space" and inline.t ~= "SoftBreak" then
      return false
    end
  end
  return images == 1
end

local stretch = {
  Pandoc = function(doc)
    if FORMAT ~= "revealjs" then
      return nil
    end
    local slide_level = (PANDOC_WRITER_OPTIONS and PANDOC_WRITER_OPTIONS.slide_level) or 2
    local stretched = false
    local blocks = pandoc.Blocks({})
    for _, block in ipairs(doc.blocks) do
      if block.t == "Header" and block.level <= slide_level then
        stretched = false
      elseif block.t == "HorizontalRule" then
        stretched = false
      elseif not stretched and block.t == "Figure" then
        block.classes:insert("r-stretch")
        stretched = true
      elseif not stretched and lone_image(block) then
        block = pandoc.Div({ block }, { class = "r-stretch" })
        stretched = true
      end
      blocks:insert(block)
    end
    doc.blocks = blocks
    return doc
  end,
}

return { conditional, callouts, crossrefs, stretch }
