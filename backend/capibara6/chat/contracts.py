"""The chat gateway's request and response bodies (kit/contract.py).

Limits that come from settings (CAPIBARA6_CHAT_MAX_MESSAGE_CHARS) are checked
through the validation context that app.py passes as "max_chars".
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AliasChoices, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from capibara6.chat.conversations import MAX_ENTRIES
from capibara6.kit.contract import Model, Reply, Text, limited

MessageText = Annotated[Text, limited("max_chars")]
SavedText = Annotated[str, limited("max_chars")]  # one side of a saved exchange may be empty
_MESSAGE_LIMIT = "at most CAPIBARA6_CHAT_MAX_MESSAGE_CHARS characters (32000)"


class Turn(Model):
    role: Literal["system", "user", "assistant"]
    content: str


class ChatBody(Model):
    message: MessageText = Field(description=f"The user's message; {_MESSAGE_LIMIT}")
    model: Text | None = Field(None, description="An Ollama model; default OLLAMA_MODEL")
    max_tokens: int | None = Field(None, ge=1, le=32768, description="Most tokens to generate (500)")
    temperature: float | None = Field(None, ge=0.0, le=2.0, description="Sampling temperature (0.7)")
    history: list[Turn] | None = Field(None, max_length=200, description="Earlier turns, oldest first")
    system: MessageText | None = Field(
        None, description=f"The system prompt; default CAPIBARA6_CHAT_SYSTEM_PROMPT; {_MESSAGE_LIMIT}")


class ChatForm(Model):
    """The same request as a multipart form, with text files to attach."""

    message: str = Field(description=f"The user's message; {_MESSAGE_LIMIT}")
    model: str | None = None
    max_tokens: str | None = Field(None, description="A whole number, 1 to 32768")
    temperature: str | None = Field(None, description="A number, 0 to 2")
    history: str | None = Field(None, description="The history list as JSON")
    system: str | None = None
    files: list[bytes] | None = Field(None, description="UTF-8 text files, each at most "
                                                        "CAPIBARA6_CHAT_MAX_UPLOAD_BYTES; appended to the message")


class Usage(Reply):
    prompt_tokens: int
    completion_tokens: int


class ChatReply(Reply):
    response: str = Field(description="The answer")
    content: str = Field(description="The answer again (older clients read this name)")
    model: str
    timestamp: str
    tokens: int
    usage: Usage


class ModelsReply(Reply):
    models: list[dict]
    current_model: str
    source: Literal["ollama", "config"] = Field(description="config when Ollama did not answer")


class Exchange(Model):
    """One saved exchange; other fields are kept with it as they came."""

    model_config = ConfigDict(strict=True, extra="allow")
    message: SavedText | None = Field(None, validation_alias=AliasChoices("message", "user"),
                                        description=f"What the user said (or 'user'); {_MESSAGE_LIMIT}")
    response: SavedText | None = Field(None, validation_alias=AliasChoices("response", "assistant"),
                                         description=f"The answer (or 'assistant'); {_MESSAGE_LIMIT}")

    @model_validator(mode="after")
    def _says_something(self):
        if not (self.message or self.response):
            raise PydanticCustomError("invalid_field", "an exchange needs a 'message' or a 'response'")
        return self


class SaveBody(Exchange):
    """Either one exchange {message, response} or {conversations: [...]}."""

    conversations: list[Exchange] | None = Field(None, min_length=1, max_length=MAX_ENTRIES)
    email: str | None = Field(None, max_length=320, description="Whose conversation it is")

    @model_validator(mode="before")
    @classmethod
    def _one_shape(cls, data):
        if isinstance(data, dict) and "conversations" not in data and not (
                {"message", "response", "user", "assistant"} & data.keys()):
            raise PydanticCustomError("missing_field", "send {message, response} or {conversations: [...]}")
        return data

    @model_validator(mode="after")
    def _says_something(self):
        return self if self.conversations is not None else super()._says_something()


class SaveReply(Reply):
    success: bool
    id: str
    saved: int


class OpenAIMessage(Model):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict] = Field(description="Text, or content parts whose text ones are used")


class CompletionBody(Model):
    messages: list[OpenAIMessage] = Field(min_length=1, max_length=1000)
    model: Text | None = Field(None, description="An Ollama model; default OLLAMA_MODEL")
    max_tokens: int | None = Field(None, ge=1, le=32768)
    max_completion_tokens: int | None = Field(None, ge=1, le=32768, description="Wins over max_tokens")
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, ge=0.0, le=1.0)
    stream: bool | None = Field(None, description="Server-sent chunks, then data: [DONE]")


class Choice(Reply):
    index: int
    message: dict
    finish_reason: str


class CompletionReply(Reply):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    usage: dict


class OpenAIModelsReply(Reply):
    object: Literal["list"]
    data: list[dict]
